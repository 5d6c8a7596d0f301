import { randomBytes } from "node:crypto";
import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AwsEmulatorHandle,
  DEFAULT_KEY_ALIAS,
  DEFAULT_REGION,
  ROOT_CREDENTIALS,
  startEmulator as startAwsEmulator,
} from "../emulators/aws-common/endpoint.js";
import {
  DEFAULT_KEY,
  type KmsEmulator,
  startEmulator as startGoogleKmsEmulator,
} from "../emulators/google-kms/index.js";
import { emulatorCalls } from "../helpers/aws-emulator-admin.js";
import { TestServer } from "../helpers/server.js";

// Issue 24, "KMS is no oracle on the service's environment": with a KMS back end and no
// hosted_keys, every name reaches the driver, which looks its ciphertext up in the service's own
// environment. Whatever a variable holds — nothing, text, short or long base64 that is no
// ciphertext of that KMS, ciphertext in a protected variable — the answer must be the one a missing
// variable gets (on both ports, by plain name and by `<backend>://` reference); only ciphertext
// that decrypts is found, and nothing that is not shaped like the KMS's ciphertext reaches Decrypt.

const LOOKALIKES = {
  PLAIN_VARIABLE: "just a plain value of the service, no ciphertext",
  SHORT_BASE64: "QUJDRA==",
  LOOSE_BASE64: `${randomBytes(45).toString("base64")}\n`,
  URLSAFE_BASE64: randomBytes(48).toString("base64url").replace(/^./, "-"),
};
const MISSING = "MISSING_VARIABLE";

type ReadResult = {
  name?: string;
  found?: boolean;
  value?: string;
  error?: { status?: string; reason?: string; message?: string };
};

/** What a caller learns from a result, with its name taken out of the message. */
function answer(result: ReadResult | undefined, name: string): unknown {
  const { found = false, value = "", error = {} } = result ?? {};
  return {
    found,
    value,
    status: error.status,
    reason: error.reason,
    message: (error.message ?? "").split(name).join("<name>"),
  };
}

describe("KMS back ends never tell which variables the service has", () => {
  let aws: AwsEmulatorHandle;
  let google: KmsEmulator;
  let kms: KMSClient;
  let server: TestServer;
  let awsLongBase64: string;
  let googleLongBase64: string;

  beforeAll(async () => {
    aws = await startAwsEmulator();
    google = await startGoogleKmsEmulator({ host: "127.0.0.1", port: 0 });
    kms = new KMSClient({ region: DEFAULT_REGION, endpoint: aws.endpoint, credentials: ROOT_CREDENTIALS });
    const awsCiphertext = async (plaintext: string) =>
      Buffer.from(
        (await kms.send(new EncryptCommand({ KeyId: DEFAULT_KEY_ALIAS, Plaintext: Buffer.from(plaintext) })))
          .CiphertextBlob!,
      ).toString("base64");
    const googleCiphertext = (plaintext: string) =>
      (google.keys.encrypt({ name: DEFAULT_KEY, plaintext: Buffer.from(plaintext) }).ciphertext as Buffer).toString(
        "base64",
      );
    // As long as real ciphertext, canonical base64, but no KMS made it: Decrypt refuses it.
    awsLongBase64 = randomBytes(120).toString("base64");
    googleLongBase64 = randomBytes(120).toString("base64");
    server = await TestServer.start({
      config: {
        secretgate: {
          backends: {
            awskms: {
              key_management_system: "aws_kms",
              env: {
                AWS_ENDPOINT_URL: aws.endpoint,
                AWS_REGION_NAME: DEFAULT_REGION,
                AWS_ACCESS_KEY_ID: ROOT_CREDENTIALS.accessKeyId,
                AWS_SECRET_ACCESS_KEY: "os.environ/TEST_AWS_SECRET",
              },
            },
            gkms: {
              key_management_system: "google_kms",
              env: { GOOGLE_KMS_RESOURCE_NAME: DEFAULT_KEY, GOOGLE_KMS_ENDPOINT: google.endpoint },
            },
            local: {},
          },
          default_backend: "local",
        },
      },
      env: {
        TEST_AWS_SECRET: ROOT_CREDENTIALS.secretAccessKey,
        ...LOOKALIKES,
        LONG_BASE64_FOR_AWS: awsLongBase64,
        LONG_BASE64_FOR_GOOGLE: googleLongBase64,
        REAL_KEY_FOR_AWS: await awsCiphertext("sk-aws-kms-decrypted"),
        REAL_KEY_FOR_GOOGLE: googleCiphertext("sk-google-kms-decrypted"),
        // Protected variables holding ciphertext that would decrypt: never looked at.
        VAULT_TOKEN: await awsCiphertext("sk-protected-aws"),
        CONJUR_AUTHN_API_KEY: googleCiphertext("sk-protected-google"),
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    kms?.destroy();
    await google?.close();
    await aws?.close();
  });

  /** Reads `names` over gRPC and over Connect JSON on the HTTP port. */
  async function readOnBothPorts(names: string[]): Promise<Array<{ port: string; results: ReadResult[] }>> {
    const overGrpc = await server.grpc.read({ names });
    const overHttp = await server.json("Read", { names });
    expect(overHttp.status).toBe(200);
    return [
      { port: "gRPC", results: overGrpc.results as ReadResult[] },
      { port: "HTTP", results: overHttp.body.results as ReadResult[] },
    ];
  }

  for (const [backend, longBase64, protectedName] of [
    ["awskms", "LONG_BASE64_FOR_AWS", "VAULT_TOKEN"],
    ["gkms", "LONG_BASE64_FOR_GOOGLE", "CONJUR_AUTHN_API_KEY"],
  ] as const) {
    it(`${backend}: a variable that holds no ciphertext this KMS decrypts answers exactly as a missing one`, async () => {
      const lookalikes = [...Object.keys(LOOKALIKES), longBase64, protectedName];
      const names = [MISSING, ...lookalikes].map((name) => `${backend}://${name}`);
      for (const { port, results } of await readOnBothPorts(names)) {
        const missing = answer(results[0], MISSING);
        expect(missing, `${port}: ${names[0]}`).toMatchObject({ found: false, status: "NOT_FOUND" });
        lookalikes.forEach((name, index) => {
          expect(answer(results[index + 1], name), `${port}: ${names[index + 1]}`).toEqual(missing);
        });
      }
    });
  }

  it("awskms: nothing shaped unlike KMS ciphertext, and no protected variable, is sent to Decrypt; real ciphertext decrypts", async () => {
    await fetch(`${aws.endpoint}/__admin/calls`, { method: "DELETE" });
    await readOnBothPorts([MISSING, ...Object.keys(LOOKALIKES), "VAULT_TOKEN"].map((name) => `awskms://${name}`));
    expect((await emulatorCalls(aws.endpoint)).counts.Decrypt).toBeUndefined();
    const [real] = (await server.grpc.read({ names: ["awskms://REAL_KEY_FOR_AWS"] })).results;
    expect(real).toMatchObject({ found: true, value: "sk-aws-kms-decrypted", source: "awskms" });
  });

  it("gkms: nothing shaped unlike KMS ciphertext, and no protected variable, is sent to Decrypt; real ciphertext decrypts", async () => {
    google.faults.resetCalls();
    await readOnBothPorts(
      [MISSING, ...Object.keys(LOOKALIKES), "CONJUR_AUTHN_API_KEY"].map((name) => `gkms://${name}`),
    );
    expect(google.faults.calls().Decrypt).toBeUndefined();
    const [real] = (await server.grpc.read({ names: ["gkms://REAL_KEY_FOR_GOOGLE"] })).results;
    expect(real).toMatchObject({ found: true, value: "sk-google-kms-decrypted", source: "gkms" });
  });
});
