import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { Code, ConnectError } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import {
  type AwsEmulatorHandle,
  DEFAULT_REGION,
  ROOT_CREDENTIALS,
  startEmulator,
} from "../emulators/aws-common/endpoint.js";
import { type Finished, run } from "../helpers/run-process.js";
import { SERVER_ENTRY, TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

// `secretgate migrate` end to end: one server on the embedded store, the Vault emulator and the
// AWS emulator, a route in mode dual_write for the names being moved (its back end the source,
// AWS; its fallback the destination, Vault), and the CLI as a separate process migrating from
// AWS to Vault against the server — and once from the config file in its own process. What the
// back ends hold is checked with the AWS SDK and Vault's HTTP API; every value the test handles
// is looked for in the CLI's output and the server's log.

const VAULT_TOKEN_VARIABLE = "VAULT_MIGRATE_TOKEN";
const AWS_SECRET_VARIABLE = "AWS_MIGRATE_SECRET_ACCESS_KEY";
const READER_TOKEN = `reader-${randomBytes(12).toString("hex")}`;

let vault: VaultTestBed;
let aws: AwsEmulatorHandle;
let awsClient: SecretsManagerClient;
let server: TestServer;
let configFile: string;
/** Everything every CLI run printed: scanned for values at the end. */
const cliOutput: string[] = [];
/** Every value the test put in a back end. */
const values = new Set<string>();

function config(): Record<string, unknown> {
  return {
    secretgate: {
      backends: {
        local: {},
        vault: {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
          env: {
            HCP_VAULT_ADDR: vault.env("token").HCP_VAULT_ADDR,
            HCP_VAULT_TOKEN: `os.environ/${VAULT_TOKEN_VARIABLE}`,
          },
        },
        aws: {
          key_management_system: "aws_secret_manager",
          key_management_settings: { access_mode: "read_and_write" },
          env: {
            AWS_ENDPOINT_URL: aws.endpoint,
            AWS_REGION_NAME: DEFAULT_REGION,
            AWS_ACCESS_KEY_ID: ROOT_CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: `os.environ/${AWS_SECRET_VARIABLE}`,
          },
        },
      },
      default_backend: "local",
      // The playbook's first step: writes to the names being moved land in both managers.
      routes: [{ names: ["MOVING_*"], backend: "aws", fallback: ["vault"], mode: "dual_write" }],
      auth: { tokens: [{ name: "reader", token: "os.environ/READER_TOKEN", rules: { read: ["*"] } }] },
    },
  };
}

const serverEnv = (): Record<string, string> => ({
  [VAULT_TOKEN_VARIABLE]: vault.env("token").HCP_VAULT_TOKEN!,
  [AWS_SECRET_VARIABLE]: ROOT_CREDENTIALS.secretAccessKey,
  READER_TOKEN,
});

/** Runs `secretgate migrate ARGS` as its own process; against the server unless `env` says otherwise. */
async function migrate(
  args: string[],
  env: Record<string, string> = { SECRETGATE_ADDR: server.grpcAddress, SECRETGATE_TOKEN: server.token! },
): Promise<Finished> {
  const finished = await run(process.execPath, [SERVER_ENTRY, "migrate", ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
  });
  cliOutput.push(finished.stdout, finished.stderr);
  return finished;
}

/** The summary's OUTCOME/SECRETS table as counts. */
function counts(summary: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const match of summary.matchAll(/^(copied|would copy|unchanged|failed) +(\d+)$/gm))
    result[match[1]!] = Number(match[2]);
  return result;
}

/** The summary's per-secret rows: name → [outcome, detail]. */
function rows(summary: string): Record<string, [string, string]> {
  const table = summary.slice(summary.indexOf("\nNAME "));
  const result: Record<string, [string, string]> = {};
  for (const line of table.split("\n").slice(2)) {
    const match = /^(\S+) +(copied|would copy|unchanged|failed)(?: +(.*))?$/.exec(line);
    if (match) result[match[1]!] = [match[2]!, match[3] ?? ""];
  }
  return result;
}

async function seed(
  name: string,
  value: string | Uint8Array,
  metadata: { description?: string; tags?: Record<string, string> } = {},
): Promise<void> {
  if (typeof value === "string") {
    values.add(value);
    server.sensitive.add(value);
  }
  await awsClient.send(
    new CreateSecretCommand({
      Name: name,
      ...(typeof value === "string" ? { SecretString: value } : { SecretBinary: value }),
      ...(metadata.description !== undefined ? { Description: metadata.description } : {}),
      ...(metadata.tags ? { Tags: Object.entries(metadata.tags).map(([Key, Value]) => ({ Key, Value })) } : {}),
    }),
  );
}

interface VaultSecret {
  value: string;
  description: string | undefined;
  tags: Record<string, string>;
  version: number;
}

async function inVault(name: string): Promise<VaultSecret | undefined> {
  const response = await fetch(`${vault.emulator.endpoint}/v1/secret/data/${name}`, {
    headers: { "x-vault-token": vault.emulator.rootToken },
  });
  if (response.status === 404) return undefined;
  expect(response.status).toBe(200);
  const { data } = (await response.json()) as {
    data: {
      data: { key: string; description?: string };
      metadata: { version: number; custom_metadata: Record<string, string> | null };
    };
  };
  return {
    value: data.data.key,
    description: data.data.description,
    tags: data.metadata.custom_metadata ?? {},
    version: data.metadata.version,
  };
}

async function vaultNames(): Promise<string[]> {
  const response = await fetch(`${vault.emulator.endpoint}/v1/secret/metadata/?list=true`, {
    headers: { "x-vault-token": vault.emulator.rootToken },
  });
  if (response.status === 404) return [];
  return ((await response.json()) as { data: { keys: string[] } }).data.keys;
}

async function inAws(name: string): Promise<{ value: string | undefined; deleted: boolean }> {
  const described = await awsClient.send(new DescribeSecretCommand({ SecretId: name }));
  if (described.DeletedDate) return { value: undefined, deleted: true };
  return { value: (await awsClient.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, deleted: false };
}

beforeAll(async () => {
  [vault, aws] = await Promise.all([startVaultTestBed(), startEmulator()]);
  // Tags are KV v2 custom metadata: copying them needs metadata writes, which the default test policy lacks.
  vault.emulator.configure({
    policies: {
      secretgate: [
        { path: "secret/data/*", capabilities: ["create", "read", "update", "delete"] },
        { path: "secret/metadata/*", capabilities: ["create", "read", "update", "delete", "list"] },
      ],
    },
  });
  awsClient = new SecretsManagerClient({
    region: DEFAULT_REGION,
    endpoint: aws.endpoint,
    credentials: ROOT_CREDENTIALS,
  });
  server = await TestServer.start({ config: config(), env: serverEnv() });
  configFile = join(mkdtempSync(join(tmpdir(), "secretgate-migrate-config-")), "config.yaml");
  writeFileSync(configFile, toYaml(config()));
  server.sensitive.add(READER_TOKEN);
});

afterAll(async () => {
  if (server) {
    const logged = server.allOutput();
    await server.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
    // The CLI's own output: no value, no token.
    const printed = cliOutput.join("\n");
    for (const value of [
      ...values,
      server.token!,
      READER_TOKEN,
      ROOT_CREDENTIALS.secretAccessKey,
      vault.env("token").HCP_VAULT_TOKEN!,
    ]) {
      expect(printed.includes(value), "a value or token in the CLI's output").toBe(false);
      expect(logged.includes(value), "a value or token in the server's log").toBe(false);
    }
  }
  if (configFile) rmSync(join(configFile, ".."), { recursive: true, force: true });
  awsClient?.destroy();
  await Promise.all([vault?.close(), aws?.close()]);
});

describe("secretgate migrate from AWS to Vault against a running server", () => {
  it("seeds AWS, and a dry run writes nothing to Vault but says what it would copy", async () => {
    await seed("OPENAI_API_KEY", "sk-openai-migrate-1", {
      description: "prod openai",
      tags: { owner: "ml", "aws:cloudformation:stack-name": "llm" },
    });
    await seed("ANTHROPIC_API_KEY", "sk-anthropic-migrate-1", { tags: { owner: "research" } });
    await seed("litellm/vk-1", "sk-virtual-migrate-1", { description: "litellm virtual key" });
    await seed("litellm/vk-2", "sk-virtual-migrate-2");

    const dry = await migrate(["--from", "aws", "--to", "vault", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("Migration from aws to vault: 4 secrets (dry run: nothing was changed)");
    expect(counts(dry.stdout)).toEqual({ "would copy": 4, unchanged: 0, failed: 0 });
    expect(await vaultNames()).toEqual([]);
    // Not a terminal: one plain line per secret on stderr, never on stdout.
    expect(dry.stderr).toContain('migrate aws to vault: [4/4] "');
    expect(dry.stdout).not.toContain("[4/4]");
  });

  it("copies every value, description and tag, verified; then a rerun finds them all unchanged", async () => {
    const run = await migrate(["--from", "aws", "--to", "vault", "--verbose"]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(counts(run.stdout)).toEqual({ copied: 4, unchanged: 0, failed: 0 });
    expect(Object.keys(rows(run.stdout)).sort()).toEqual([
      "ANTHROPIC_API_KEY",
      "OPENAI_API_KEY",
      "litellm/vk-1",
      "litellm/vk-2",
    ]);

    expect(await inVault("OPENAI_API_KEY")).toMatchObject({
      value: "sk-openai-migrate-1",
      description: "prod openai",
      tags: { owner: "ml" },
    });
    expect(await inVault("ANTHROPIC_API_KEY")).toMatchObject({
      value: "sk-anthropic-migrate-1",
      description: undefined,
      tags: { owner: "research" },
    });
    expect(await inVault("litellm/vk-1")).toMatchObject({
      value: "sk-virtual-migrate-1",
      description: "litellm virtual key",
      tags: {},
    });
    expect(await inVault("litellm/vk-2")).toMatchObject({ value: "sk-virtual-migrate-2", version: 1 });
    // A copy, not a move: AWS still holds everything.
    expect(await inAws("OPENAI_API_KEY")).toEqual({ value: "sk-openai-migrate-1", deleted: false });
    const stack = (await awsClient.send(new DescribeSecretCommand({ SecretId: "OPENAI_API_KEY" }))).Tags;
    expect(stack).toContainEqual({ Key: "aws:cloudformation:stack-name", Value: "llm" });

    const rerun = await migrate(["--from", "aws", "--to", "vault"]);
    expect(rerun.code).toBe(0);
    expect(counts(rerun.stdout)).toEqual({ copied: 0, unchanged: 4, failed: 0 });
    expect((await inVault("litellm/vk-2"))?.version).toBe(1);
  });

  it("overwrites a copy that differs in Vault, and says so", async () => {
    await fetch(`${vault.emulator.endpoint}/v1/secret/data/ANTHROPIC_API_KEY`, {
      method: "POST",
      headers: { "x-vault-token": vault.emulator.rootToken, "content-type": "application/json" },
      body: JSON.stringify({ data: { key: "sk-changed-in-vault" } }),
    });
    values.add("sk-changed-in-vault");
    const run = await migrate(["--from", "aws", "--to", "vault"]);
    expect(run.code).toBe(0);
    expect(counts(run.stdout)).toEqual({ copied: 1, unchanged: 3, failed: 0 });
    expect(run.stdout).toContain("1 overwrote a different value or different metadata in vault");
    expect(rows(run.stdout)).toEqual({ ANTHROPIC_API_KEY: ["copied", "overwrote a different copy"] });
    expect((await inVault("ANTHROPIC_API_KEY"))?.value).toBe("sk-anthropic-migrate-1");
  });

  it("takes only what --match selects", async () => {
    await seed("litellm/vk-3", "sk-virtual-migrate-3");
    await seed("GROQ_API_KEY", "sk-groq-migrate-1");
    const run = await migrate([
      "--from",
      "aws",
      "--to",
      "vault",
      "--match",
      "litellm/*",
      "--match",
      "NOT_THERE_*",
      "--verbose",
    ]);
    expect(run.code).toBe(0);
    expect(rows(run.stdout)).toEqual({
      "litellm/vk-1": ["unchanged", ""],
      "litellm/vk-2": ["unchanged", ""],
      "litellm/vk-3": ["copied", ""],
    });
    expect(await inVault("GROQ_API_KEY")).toBeUndefined();
  });

  it("reports a value Vault cannot keep per secret, with its reason, and exits non-zero; the embedded store takes it", async () => {
    const bytes = new Uint8Array([0, 1, 2, 254, 255, 10, 13]);
    await seed("BINARY_BLOB", bytes);
    const run = await migrate(["--from", "aws", "--to", "vault", "--match", "BINARY_*", "--match", "GROQ_*"]);
    expect(run.code).toBe(1);
    expect(counts(run.stdout)).toEqual({ copied: 1, unchanged: 0, failed: 1 });
    expect(rows(run.stdout)).toEqual({
      BINARY_BLOB: [
        "failed",
        'FAILED_PRECONDITION: "BINARY_BLOB" holds a binary value, which vault cannot keep (it stores text only)',
      ],
    });
    expect(await inVault("BINARY_BLOB")).toBeUndefined();
    expect((await inVault("GROQ_API_KEY"))?.value).toBe("sk-groq-migrate-1");

    const toLocal = await migrate(["--from", "aws", "--to", "local", "--match", "BINARY_*"]);
    expect(toLocal.code, toLocal.stdout).toBe(0);
    expect(counts(toLocal.stdout)).toMatchObject({ copied: 1 });
    const read = (await server.grpc.read({ names: ["local://BINARY_BLOB"] })).results[0]!;
    expect(read).toMatchObject({ found: true, source: "local" });
    expect(read.binaryValue).toEqual(bytes);
  });

  it("reports a destination that stops answering per secret, and exits 5 (worth retrying)", async () => {
    await seed("OUTAGE_1", "sk-outage-migrate-1");
    await seed("OUTAGE_2", "sk-outage-migrate-2");
    vault.emulator.faults.set([{ operation: "kv-write", kind: "error", status: 503 }]);
    try {
      const run = await migrate(["--from", "aws", "--to", "vault", "--match", "OUTAGE_*"]);
      expect(run.code).toBe(5);
      expect(counts(run.stdout)).toEqual({ copied: 0, unchanged: 0, failed: 2 });
      const failed = rows(run.stdout);
      expect(Object.keys(failed)).toEqual(["OUTAGE_1", "OUTAGE_2"]);
      for (const [outcome, detail] of Object.values(failed)) {
        expect(outcome).toBe("failed");
        expect(detail).toMatch(/^UNAVAILABLE: /);
      }
    } finally {
      vault.emulator.faults.clear();
    }
    const again = await migrate(["--from", "aws", "--to", "vault", "--match", "OUTAGE_*"]);
    expect(again.code, again.stdout).toBe(0);
    expect(counts(again.stdout)).toEqual({ copied: 2, unchanged: 0, failed: 0 });
  });

  it("with --delete-source deletes each AWS secret, keeping its recovery window, once its copy verified", async () => {
    await seed("RETIRED_1", "sk-retired-migrate-1");
    await seed("RETIRED_2", "sk-retired-migrate-2");
    const dry = await migrate([
      "--from",
      "aws",
      "--to",
      "vault",
      "--match",
      "RETIRED_*",
      "--delete-source",
      "--dry-run",
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("2 would be deleted from aws once their copies verified.");
    expect(await inAws("RETIRED_1")).toEqual({ value: "sk-retired-migrate-1", deleted: false });

    const run = await migrate([
      "--from",
      "aws",
      "--to",
      "vault",
      "--match",
      "RETIRED_*",
      "--delete-source",
      "--verbose",
    ]);
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain("2 deleted from aws after their copies verified");
    expect(rows(run.stdout)).toEqual({
      RETIRED_1: ["copied", "deleted from aws"],
      RETIRED_2: ["copied", "deleted from aws"],
    });
    for (const name of ["RETIRED_1", "RETIRED_2"]) {
      // Scheduled for deletion, not gone: AWS's recovery window applies.
      expect(await inAws(name)).toEqual({ value: undefined, deleted: true });
      expect((await inVault(name))?.value).toBe(`sk-retired-migrate-${name.slice(-1)}`);
    }
    // Nothing left to take from the source.
    const rerun = await migrate(["--from", "aws", "--to", "vault", "--match", "RETIRED_*", "--delete-source"]);
    expect(rerun.stdout).toContain("Migration from aws to vault: 0 secrets");
  });

  it("keeps a proxy's write during the migration in both back ends (dual_write), even when it races the copy", async () => {
    await seed("MOVING_1", "sk-moving-before-1");
    await seed("MOVING_2", "sk-moving-before-2");
    // The migration reads MOVING_1's value, then waits on its metadata while a proxy writes through the route.
    aws.emulator.faults.set([{ operation: "DescribeSecret", target: "MOVING_1", kind: "hold", times: 1 }]);
    const running = migrate(["--from", "aws", "--to", "vault", "--match", "MOVING_*", "--verbose"]);
    await aws.emulator.faults.whenHolding();
    const written = await server.grpc.write({ name: "MOVING_1", value: "sk-moving-written-meanwhile" });
    values.add("sk-moving-written-meanwhile");
    expect(written).toMatchObject({ source: "aws", warnings: [] });
    aws.emulator.faults.release();
    const run = await running;
    expect(run.code, run.stdout).toBe(0);
    // Its first copy overwrote the proxy's write in Vault with the value it had read; reading AWS again caught that.
    expect(rows(run.stdout)).toMatchObject({
      MOVING_1: ["copied", "overwrote a different copy"],
      MOVING_2: ["copied", ""],
    });
    expect(await inAws("MOVING_1")).toEqual({ value: "sk-moving-written-meanwhile", deleted: false });
    expect((await inVault("MOVING_1"))?.value).toBe("sk-moving-written-meanwhile");
    expect((await inVault("MOVING_2"))?.value).toBe("sk-moving-before-2");
    // Reads still prefer the route's back end; the next step of the playbook switches it.
    expect((await server.grpc.read({ names: ["MOVING_1"], bypassCache: true })).results[0]).toMatchObject({
      value: "sk-moving-written-meanwhile",
      source: "aws",
    });
  });

  it("draws a progress bar on a terminal instead of a line per secret", async () => {
    // script(1) runs the command on a pseudo-terminal (stdout and stderr both); -e passes on its exit code.
    const command = [
      process.execPath,
      SERVER_ENTRY,
      "migrate",
      "--from",
      "aws",
      "--to",
      "vault",
      "--match",
      "litellm/*",
    ]
      .map((part) => `'${part.replaceAll("'", "'\\''")}'`)
      .join(" ");
    const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      const child = spawn("script", ["-qec", command, "/dev/null"], {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          SECRETGATE_ADDR: server.grpcAddress,
          SECRETGATE_TOKEN: server.token!,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let text = "";
      child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      child.stderr.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, text }));
    });
    cliOutput.push(output.text);
    expect(output.code, output.text).toBe(0);
    expect(output.text).toContain("\r\u001b[2Kmigrate aws to vault [");
    expect(output.text).toMatch(/migrate aws to vault \[#+\] 3\/3 {2}unchanged 3/);
    expect(output.text).not.toContain('[1/3] "');
    expect(output.text).toContain("Migration from aws to vault: 3 secrets");
  });

  it("records each secret's migration in the server's audit log, never a value", async () => {
    const records = server.logLines
      .filter((line) => line.includes('"method":"MigrateSecret"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.length).toBeGreaterThan(10);
    expect(records).toContainEqual(
      expect.objectContaining({
        audit: true,
        identity: "admin",
        name: "litellm/vk-3",
        fromBackend: "aws",
        toBackend: "vault",
        outcome: "OK",
        migration: "COPIED",
      }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({ name: "RETIRED_1", deleteSource: true, migration: "COPIED", sourceDeleted: true }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({ name: "BINARY_BLOB", toBackend: "vault", outcome: "FAILED_PRECONDITION" }),
    );
    expect(
      server.logLines.some((line) => line.includes('"method":"PlanMigration"') && line.includes('"planned":')),
    ).toBe(true);
  });

  it("is for admins only, and names what it cannot do before copying anything", async () => {
    const reader = await migrate(["--from", "aws", "--to", "vault"], {
      SECRETGATE_ADDR: server.grpcAddress,
      SECRETGATE_TOKEN: READER_TOKEN,
    });
    expect(reader.code).toBe(4);
    expect(reader.stderr).toContain("PERMISSION_DENIED: reader may not migrate secrets (needs admin)");
    const unknown = await migrate(["--from", "gcp", "--to", "vault"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('INVALID_ARGUMENT: from_backend "gcp" is not a configured back end');
    const usage = await migrate(["--to", "vault"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--from BACKEND is required");
  });

  it("takes hostile back-end names, names and globs without failing badly", async () => {
    const acceptable = new Set([Code.InvalidArgument, Code.NotFound, Code.PermissionDenied, Code.FailedPrecondition]);
    const anyText = fc.string({ unit: "binary", maxLength: 600 });
    const backend = fc.oneof(fc.constantFrom("aws", "vault", "local", ""), anyText);
    await fc.assert(
      fc.asyncProperty(
        backend,
        backend,
        fc.array(anyText, { maxLength: 5 }),
        anyText,
        async (fromBackend, toBackend, match, name) => {
          for (const call of [
            () => server.admin.planMigration({ fromBackend, toBackend, match }, { timeoutMs: 5_000 }),
            () => server.admin.migrateSecret({ fromBackend, toBackend, name, dryRun: true }, { timeoutMs: 5_000 }),
          ]) {
            const code = await call().then(
              () => undefined,
              (error: unknown) => ConnectError.from(error).code,
            );
            if (code !== undefined) expect(acceptable.has(code), `answered ${Code[code]}`).toBe(true);
          }
        },
      ),
      {
        numRuns: 40,
        interruptAfterTimeLimit: 15_000,
        markInterruptAsFailure: true,
        examples: [["aws", "vault", ["[a-z]+", "(*"], "__proto__"]],
      },
    );
  });
});

describe("secretgate migrate --config: in its own process, from the server's config file", () => {
  it("copies from AWS to Vault with the config's back ends, no server involved", async () => {
    await seed("CONFIG_KEY", "sk-config-migrate-1", { description: "moved offline", tags: { owner: "ops" } });
    const env = { ...serverEnv(), SECRETGATE_DATA_DIR: server.dataDir };
    const run = await migrate(
      ["--config", configFile, "--from", "aws", "--to", "vault", "--match", "CONFIG_*", "--verbose"],
      env,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(rows(run.stdout)).toEqual({ CONFIG_KEY: ["copied", ""] });
    expect(await inVault("CONFIG_KEY")).toMatchObject({
      value: "sk-config-migrate-1",
      description: "moved offline",
      tags: { owner: "ops" },
    });
    const rerun = await migrate(["--config", configFile, "--from", "aws", "--to", "vault", "--match", "CONFIG_*"], env);
    expect(counts(rerun.stdout)).toEqual({ copied: 0, unchanged: 1, failed: 0 });
  });

  it("leaves the names Read would not serve from --from where they are, saying so before copying anything", async () => {
    const hosted = config() as {
      secretgate: { backends: { aws: { key_management_settings: Record<string, unknown> } } };
    };
    hosted.secretgate.backends.aws.key_management_settings.hosted_keys = ["HOSTED_ONLY_KEY"];
    const file = join(mkdtempSync(join(tmpdir(), "secretgate-migrate-hosted-")), "config.yaml");
    writeFileSync(file, toYaml(hosted));
    try {
      await seed("HOSTED_ONLY_KEY", "sk-hosted-only-1");
      await seed("HOSTED_ONLY_OTHER", "sk-hosted-only-2");
      const run = await migrate(
        ["--config", file, "--from", "aws", "--to", "vault", "--match", "HOSTED_ONLY_*", "--verbose"],
        { ...serverEnv(), SECRETGATE_DATA_DIR: server.dataDir },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(rows(run.stdout)).toEqual({ HOSTED_ONLY_KEY: ["copied", ""] });
      expect(run.stderr).toContain(
        'leaving "HOSTED_ONLY_OTHER" in aws: Read does not serve it from there (it is not in hosted_keys)',
      );
      expect(await inVault("HOSTED_ONLY_OTHER")).toBeUndefined();
    } finally {
      rmSync(join(file, ".."), { recursive: true, force: true });
    }
  });

  it("refuses a data directory no server has used, and --addr with --config", async () => {
    const empty = mkdtempSync(join(tmpdir(), "secretgate-migrate-empty-"));
    try {
      const run = await migrate(["--config", configFile, "--from", "aws", "--to", "vault"], {
        ...serverEnv(),
        SECRETGATE_DATA_DIR: empty,
      });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`secretgate.data_dir: ${empty} holds no secretgate.db`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const both = await migrate([
      "--config",
      configFile,
      "--addr",
      server.grpcAddress,
      "--from",
      "aws",
      "--to",
      "vault",
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--config runs the migration in this process");
  });
});
