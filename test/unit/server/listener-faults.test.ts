import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { listenerErrorCell } from "../../../src/metrics/metrics.js";
import { ListenerFaults } from "../../../src/server/listener-faults.js";

function capturingLogger(level: string): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe("ListenerFaults", () => {
  const token = "sk-listener-faults-token-0123456789";

  it("logs an unexpected throw once, at error, with its stack frames but never its message, and counts it", () => {
    const { logger, lines } = capturingLogger("info");
    const faults = new ListenerFaults("http", logger);
    const before = listenerErrorCell("http", "handler").value;
    faults.unexpected("handler", new TypeError(`header authorization: Bearer ${token}`));
    expect(listenerErrorCell("http", "handler").value).toBe(before + 1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, listener: "http", kind: "handler", error: "TypeError" });
    expect(String(lines[0]!.stack)).toContain("listener-faults.test.ts");
    expect(JSON.stringify(lines)).not.toContain(token);
  });

  it("counts what a peer did, and logs it only at debug (a flood must not become a flood of log lines)", () => {
    const quiet = capturingLogger("info");
    const faults = new ListenerFaults("grpc", quiet.logger);
    const before = listenerErrorCell("grpc", "client_error").value;
    const parseError = Object.assign(new Error(`Parse Error: ${token}`), { code: "HPE_INVALID_HEADER_TOKEN" });
    faults.peer("client_error", parseError, "127.0.0.1:4000");
    expect(listenerErrorCell("grpc", "client_error").value).toBe(before + 1);
    expect(quiet.lines).toHaveLength(0);

    const verbose = capturingLogger("debug");
    new ListenerFaults("grpc", verbose.logger).peer("client_error", parseError, "127.0.0.1:4000");
    expect(verbose.lines).toEqual([
      expect.objectContaining({
        level: 20,
        kind: "client_error",
        code: "HPE_INVALID_HEADER_TOKEN",
        peer: "127.0.0.1:4000",
      }),
    ]);
    expect(JSON.stringify(verbose.lines)).not.toContain(token);
  });

  it("closes a connection whose hand-over throws, instead of letting the throw end the process", () => {
    const { logger, lines } = capturingLogger("info");
    let destroyed = false;
    new ListenerFaults("http", logger).guard({ destroy: () => (destroyed = true) }, () => {
      throw new Error("a bug");
    });
    expect(destroyed).toBe(true);
    expect(lines[0]).toMatchObject({ kind: "connection", error: "Error" });
  });
});
