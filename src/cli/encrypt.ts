import { parseArgs } from "node:util";
import type { Encryptor } from "../drivers/encryptor.js";
import { SYSTEMS } from "../systems.js";

/**
 * `secretgate encrypt --kms aws|google [--key-id ID | --key RESOURCE] [--context k=v ...] VALUE`
 * prints the base64 ciphertext to put in the environment for the aws_kms / google_kms back ends.
 * Each KMS back end declares its encryptor in its definition (DriverDefinition.encryptor).
 */
const encryptors: Record<string, () => Promise<Encryptor>> = Object.fromEntries(
  SYSTEMS.flatMap((system) => (system.encryptor ? [[system.encryptor.kms, () => system.encryptor!.load()]] : [])),
);

export const ENCRYPT_USAGE =
  `usage: secretgate encrypt --kms ` +
  `${Object.keys(encryptors).join("|") || "aws|google"} [--key-id ID | ` +
  `--key RESOURCE] [--context k=v ...] VALUE`;

export async function runEncrypt(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      kms: { type: "string" },
      "key-id": { type: "string" },
      key: { type: "string" },
      context: { type: "string", multiple: true },
    },
    allowPositionals: true,
  });
  const load = values.kms ? encryptors[values.kms] : undefined;
  if (!load || positionals.length !== 1) {
    console.error(
      values.kms && !load ? `secretgate: unknown --kms ${JSON.stringify(values.kms)}\n${ENCRYPT_USAGE}` : ENCRYPT_USAGE,
    );
    return 2;
  }
  const context: Record<string, string> = {};
  for (const pair of values.context ?? []) {
    const equals = pair.indexOf("=");
    if (equals <= 0) {
      console.error(`secretgate: --context ${JSON.stringify(pair)} must be key=value`);
      return 2;
    }
    context[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  const key = values["key-id"] ?? values.key;
  const encrypt = await load();
  try {
    console.log(await encrypt(positionals[0]!, { ...(key !== undefined ? { key } : {}), context, env: process.env }));
    return 0;
  } catch (error) {
    console.error(`secretgate: encryption failed: ${(error as Error).message}`);
    return 1;
  }
}
