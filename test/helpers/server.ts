import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { stringify as toYaml } from "yaml";
import { SecretService } from "../../gen/secretgate/v1/secret_service_pb.js";

/** The project root, whether this file runs from test/ (vitest) or from dist/test/ (the benchmark). */
const ROOT = (() => {
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
}

/** A secretgate server process started by a test on free loopback ports. */
export class TestServer {
  readonly logLines: string[] = [];
  readonly stderrLines: string[] = [];
  grpcAddress = "";
  httpAddress = "";
  private exited: Promise<number | null>;
  private grpcClient: Client<typeof SecretService> | undefined;

  private constructor(
    readonly process: ChildProcess,
    readonly dataDir: string,
  ) {
    this.exited = new Promise((resolve) => process.once("exit", (code) => resolve(code)));
  }

  static async start(options: StartOptions = {}): Promise<TestServer> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "secretgate-data-"));
    const args = [SERVER_ENTRY, ...(options.args ?? [])];
    if (options.config) {
      const file = join(mkdtempSync(join(tmpdir(), "secretgate-config-")), "config.yaml");
      writeFileSync(file, toYaml(options.config));
      args.push("--config", file);
    }
    const child = spawn(process.execPath, args, {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        SECRETGATE_GRPC_ADDR: "127.0.0.1:0",
        SECRETGATE_HTTP_ADDR: "127.0.0.1:0",
        SECRETGATE_DATA_DIR: dataDir,
        SECRETGATE_LOG_LEVEL: "debug",
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const server = new TestServer(child, dataDir);
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
        let newline: number;
        while ((newline = stdoutBuffer.indexOf("\n")) >= 0) {
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

  /** A Connect client speaking the gRPC protocol to the grpc-js port. */
  get grpc(): Client<typeof SecretService> {
    this.grpcClient ??= createClient(
      SecretService,
      createGrpcTransport({ baseUrl: `http://${this.grpcAddress}` }),
    );
    return this.grpcClient;
  }

  /** Calls a method with Connect's JSON protocol over plain fetch, as curl would. */
  async json(method: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const response = await fetch(`http://${this.httpAddress}/secretgate.v1.SecretService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) };
  }

  /** Sends SIGTERM and waits for the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
    return this.exited;
  }

  /** Every line the process wrote (stdout logs and stderr). */
  allOutput(): string {
    return [...this.logLines, ...this.stderrLines].join("\n");
  }
}
