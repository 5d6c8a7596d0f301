import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./free-port.js";

/** Debian's layout, newest version first; else whatever pg_config reports. */
function findBinaries(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const bin = join(root, version, "bin");
    if (existsSync(join(bin, "initdb"))) return bin;
  }
  try {
    return execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("PostgreSQL server binaries not found: install Debian's postgresql package");
  }
}

/**
 * A throwaway PostgreSQL server on a free loopback port, its data in a temp dir. initdb refuses
 * to run as root, so as root the server runs as the `postgres` user.
 */
export class PostgresServer {
  private constructor(
    private process: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    private exited: Promise<void>,
    /** Starts the postmaster on this server's data and port (again, after `halt`). */
    private readonly launch: () => { child: ChildProcess; exited: Promise<void>; log: () => string },
  ) {}

  /** The superuser's URL (trust authentication on loopback). */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(): Promise<PostgresServer> {
    // util-linux's runuser lives in sbin, which a non-login PATH may not include.
    const RUNUSER = ["/usr/sbin/runuser", "/sbin/runuser"].find((path) => existsSync(path)) ?? "runuser";
    const bin = findBinaries();
    const dir = mkdtempSync(join(tmpdir(), "secretgate-pg-"));
    const asRoot = process.getuid?.() === 0;
    const run = (program: string, args: string[]): [string, string[]] =>
      asRoot ? [RUNUSER, ["-u", "postgres", "--", program, ...args]] : [program, args];
    if (asRoot) {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
      chownSync(dir, uid, gid);
    }
    const data = join(dir, "data");
    const [initdb, initArgs] = run(join(bin, "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
    ]);
    execFileSync(initdb, initArgs, { stdio: "pipe" });
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const launch = () => {
        const [postgres, args] = run(join(bin, "postgres"), [
          "-D",
          data,
          "-p",
          String(port),
          "-c",
          "listen_addresses=127.0.0.1",
          "-k",
          dir,
          "-c",
          "fsync=off",
          "-c",
          "max_connections=100",
        ]);
        const child = spawn(postgres, args, { stdio: ["ignore", "ignore", "pipe"] });
        let log = "";
        child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString("utf8")));
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        return { child, exited, log: () => log };
      };
      const { child, exited, log } = launch();
      const server = new PostgresServer(child, dir, port, exited, launch);
      try {
        await server.waitUntilAccepting(exited);
        return server;
      } catch (error) {
        child.kill("SIGKILL");
        await exited;
        // Another process may have taken the port between probing and binding it.
        if (attempt < 3 && /could not bind|Address already in use/.test(log())) continue;
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`PostgreSQL did not start: ${(error as Error).message}\n${log()}`);
      }
    }
  }

  private async waitUntilAccepting(exited: Promise<void>): Promise<void> {
    let gone = false;
    void exited.then(() => (gone = true));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (gone) throw new Error("the server exited");
      const client = new pg.Client({ connectionString: this.url });
      try {
        await client.connect();
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** Runs one statement as the superuser, in the `postgres` database unless `url` names another. */
  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
    url = this.url,
  ): Promise<T[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** A fresh database on this server; its URL. */
  async createDatabase(name: string): Promise<string> {
    await this.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  async stop(): Promise<void> {
    await this.halt();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Stops the server as an outage would (a fast shutdown: every client is disconnected), keeping its data for `restart`. */
  async halt(): Promise<void> {
    // SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, no waiting. The postmaster is
    // signalled itself: runuser does not pass SIGINT on.
    const pidFile = join(this.dir, "data", "postmaster.pid");
    const postmaster = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : undefined;
    if (postmaster) process.kill(postmaster, "SIGINT");
    else this.process.kill("SIGINT");
    await this.exited;
  }

  /**
   * Freezes the server (SIGSTOP to the postmaster and every process it started): its connections
   * stay open but nothing answers, as when the network to the database is cut. `thaw` resumes it.
   */
  freeze(): void {
    for (const pid of this.processes()) process.kill(pid, "SIGSTOP");
  }

  thaw(): void {
    for (const pid of this.processes()) process.kill(pid, "SIGCONT");
    // As root the postmaster runs under runuser, which stops itself when its child stops (job control).
    if (this.process.pid !== undefined && this.process.exitCode === null) process.kill(this.process.pid, "SIGCONT");
  }

  /** The postmaster and its children, by pid (from postmaster.pid and /proc). */
  private processes(): number[] {
    const postmaster = Number(readFileSync(join(this.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
    const children = readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after its closing parenthesis.
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster;
        } catch {
          return false;
        }
      })
      .map(Number);
    return [postmaster, ...children];
  }

  /** Starts the server again after `halt`, on the same port with the same data. */
  async restart(): Promise<void> {
    const { child, exited, log } = this.launch();
    this.process = child;
    this.exited = exited;
    try {
      await this.waitUntilAccepting(exited);
    } catch (error) {
      throw new Error(`PostgreSQL did not start again: ${(error as Error).message}\n${log()}`);
    }
  }
}
