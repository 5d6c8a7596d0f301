import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { stringify as toYaml } from "yaml";
import { AdminService } from "../../gen/secretgate/v1/admin_service_pb.js";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";

/** The project root, whether this file runs from test/ (vitest) or from dist/test/ (the benchmark). */
export const ROOT = (() => {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
})();
export const SERVER_ENTRY = join(ROOT, "dist", "src", "main.js");

export interface StartOptions {
  /** The LiteLLM-style config document (written to a temp file), if any. */
  config?: Record<string, unknown>;
  /** Extra environment for the server process (on top of a minimal PATH/HOME). */
  env?: Record<string, string>;
  /** Reuse a data directory (to test restarts); a fresh temp dir otherwise. */
  dataDir?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Options for node itself, before the entry point (e.g. V8 heap flags). */
  nodeArgs?: string[];
  /**
   * The admin token the server accepts (SECRETGATE_ADMIN_TOKEN) and the clients send; a random
   * one by default. `null` starts the server without SECRETGATE_ADMIN_TOKEN.
   */
  adminToken?: string | null;
}

// A safety net: a test that forgets stop() (or fails before it) must not leave servers running
// after its worker exits.
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** What GetTeamSettings shows in place of a credential. */
const REDACTED = "[redacted]";

/** Values shorter than this are too common to scan logs for (e.g. "x", "one"). */
const MIN_SCANNED_VALUE_LENGTH = 8;

/** A secretgate server process started by a test on free loopback ports. */
export class TestServer {
  readonly logLines: string[] = [];
  readonly stderrLines: string[] = [];
  grpcAddress = "";
  httpAddress = "";
  private exited: Promise<number | null>;
  private grpcClient: Client<typeof SecretService> | undefined;
  private adminGrpcClient: Client<typeof AdminService> | undefined;

  /** Every secret value and token this server was sent or returned; none may appear in its output. */
  readonly sensitive = new Set<string>();
  /**
   * Names and team ids this server was sent: they are logged by design, so a secret value that is
   * also part of one (random inputs make "toString" a value and "ltoString" a name) proves no leak.
   */
  private readonly logged = new Set<string>();

  private constructor(
    readonly process: ChildProcess,
    readonly dataDir: string,
    readonly token: string | undefined,
  ) {
    if (token) this.sensitive.add(token);
    this.exited = new Promise((resolve) => process.once("exit", (code) => resolve(code)));
  }

  static async start(options: StartOptions = {}): Promise<TestServer> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "secretgate-data-"));
    const args = [...(options.nodeArgs ?? []), SERVER_ENTRY, ...(options.args ?? [])];
    if (options.config) {
      const file = join(mkdtempSync(join(tmpdir(), "secretgate-config-")), "config.yaml");
      writeFileSync(file, toYaml(options.config));
      args.push("--config", file);
    }
    const token =
      options.adminToken === null ? undefined : (options.adminToken ?? `test-admin-${randomBytes(16).toString("hex")}`);
    const child = spawn(process.execPath, args, {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        SECRETGATE_GRPC_ADDR: "127.0.0.1:0",
        SECRETGATE_HTTP_ADDR: "127.0.0.1:0",
        SECRETGATE_DATA_DIR: dataDir,
        SECRETGATE_LOG_LEVEL: "debug",
        ...(token ? { SECRETGATE_ADMIN_TOKEN: token } : {}),
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(child);
    child.once("exit", () => running.delete(child));
    const server = new TestServer(child, dataDir, token);
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (
        /API_KEY|TOKEN|SECRET|PASSWORD|PRIVATE/.test(key) &&
        !key.startsWith("SECRETGATE_") &&
        value.length >= MIN_SCANNED_VALUE_LENGTH
      )
        server.sensitive.add(value);
    }
    await server.waitUntilListening();
    return server;
  }

  /** Starts a process that is expected to fail; resolves with its exit code and stderr. */
  static async startExpectingFailure(options: StartOptions = {}): Promise<{ code: number | null; stderr: string }> {
    try {
      const server = await TestServer.start(options);
      await server.stop();
      throw new Error("the server started, but was expected to fail");
    } catch (error) {
      const failure = error as Error & { exitCode?: number | null; stderr?: string };
      if (failure.exitCode === undefined) throw error;
      return { code: failure.exitCode, stderr: failure.stderr ?? "" };
    }
  }

  private waitUntilListening(): Promise<void> {
    return new Promise((resolve, reject) => {
      let stdoutBuffer = "";
      let stderrBuffer = "";
      this.process.stdout!.on("data", (chunk: Buffer) => {
        stdoutBuffer += chunk.toString("utf8");
        for (let newline = stdoutBuffer.indexOf("\n"); newline >= 0; newline = stdoutBuffer.indexOf("\n")) {
          const line = stdoutBuffer.slice(0, newline);
          stdoutBuffer = stdoutBuffer.slice(newline + 1);
          this.logLines.push(line);
          if (line.includes('"secretgate listening"')) {
            const record = JSON.parse(line) as { grpc: string; http: string };
            this.grpcAddress = record.grpc;
            this.httpAddress = record.http;
            resolve();
          }
        }
      });
      this.process.stderr!.on("data", (chunk: Buffer) => {
        stderrBuffer += chunk.toString("utf8");
        this.stderrLines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      });
      this.process.once("exit", (code) => {
        const error = Object.assign(new Error(`server exited with ${code} before listening: ${stderrBuffer}`), {
          exitCode: code,
          stderr: stderrBuffer,
        });
        reject(error);
      });
    });
  }

  /** A Connect client speaking the gRPC protocol to the grpc-js port, sending the admin token. */
  get grpc(): Client<typeof SecretService> {
    this.grpcClient ??= this.client(this.token);
    return this.grpcClient;
  }

  /** A Connect client of AdminService (the operator's RPCs) speaking gRPC to the grpc-js port, sending the admin token. */
  get admin(): Client<typeof AdminService> {
    this.adminGrpcClient ??= this.adminClient(this.token);
    return this.adminGrpcClient;
  }

  /** A gRPC client of SecretService with another token (or none), values it sees recorded for the log scan. */
  client(token: string | undefined): Client<typeof SecretService> {
    return this.clientOf(SecretService, token);
  }

  /** A gRPC client of AdminService with another token (or none), values it sees recorded for the log scan. */
  adminClient(token: string | undefined): Client<typeof AdminService> {
    return this.clientOf(AdminService, token);
  }

  private clientOf<S extends DescService>(service: S, token: string | undefined): Client<S> {
    if (token) this.sensitive.add(token);
    const record: Interceptor = (next) => async (request) => {
      this.remember(request.message);
      const response = await next(request);
      if (!response.stream) this.remember(response.message);
      return response;
    };
    const withToken: Interceptor = (next) => (request) => {
      if (token) request.header.set("authorization", `Bearer ${token}`);
      return next(request);
    };
    return createClient(
      service,
      createGrpcTransport({ baseUrl: `http://${this.grpcAddress}`, interceptors: [record, withToken] }),
    );
  }

  /** Records the values in a request or response (Write/Rotate values, Read results, a call's team settings). */
  remember(message: unknown): void {
    const visit = (node: unknown, key: string, inTeamSettings: boolean) => {
      if (typeof node === "string") {
        const secret = inTeamSettings || key === "value" || key === "token";
        // "[redacted]" is what stands in for a credential, never one: messages may name it.
        if (secret && node.length >= MIN_SCANNED_VALUE_LENGTH && node !== REDACTED) this.sensitive.add(node);
        if (key === "name" || key === "names" || key === "teamId" || key === "team_id") this.logged.add(node);
      } else if (node instanceof Uint8Array) {
        if (key === "binaryValue" && node.length >= MIN_SCANNED_VALUE_LENGTH)
          this.sensitive.add(Buffer.from(node).toString("utf8"));
      } else if (Array.isArray(node)) {
        for (const item of node) visit(item, key, inTeamSettings);
      } else if (node !== null && typeof node === "object") {
        const settings = inTeamSettings || key === "teamSettings" || key === "team_settings";
        for (const [inner, value] of Object.entries(node)) visit(value, inner, settings);
      }
    };
    visit(message, "", false);
  }

  /** Calls a method (of whichever service has it) with Connect's JSON protocol over plain fetch, as curl would. */
  async json(
    method: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: any }> {
    this.remember(body);
    const service = AdminService.methods.some((candidate) => candidate.name === method) ? AdminService : SecretService;
    const response = await fetch(`http://${this.httpAddress}/${service.typeName}/${method}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text === "" ? undefined : JSON.parse(text);
    this.remember(parsed);
    return { status: response.status, body: parsed };
  }

  /**
   * Sends SIGTERM and waits for the exit code, then scans everything the process wrote for the
   * secret values and tokens it handled: finding one fails the test that stops the server.
   */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    const code = await this.exited;
    this.assertNoSecretsInOutput();
    return code;
  }

  assertNoSecretsInOutput(): void {
    const output = this.allOutput();
    const loggedByDesign = [...this.logged];
    const leaked = [...this.sensitive].filter(
      (secret) => output.includes(secret) && !loggedByDesign.some((text) => text.includes(secret)),
    );
    if (leaked.length > 0) {
      throw new Error(`${leaked.length} secret value(s) or token(s) appeared in the server's output (log scan)`);
    }
  }

  /** Every line the process wrote (stdout logs and stderr). */
  allOutput(): string {
    return [...this.logLines, ...this.stderrLines].join("\n");
  }
}

/** Stops a server, if one was started (scanning its output, see `stop`), and removes its data directory. */
export async function stopServer(server: TestServer | undefined): Promise<void> {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
}
