import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cpuShares } from "../../../bench/cpu-profile.js";

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A profile of a call tree given as [id, function, url, parent id], each node sampled for its `ms`. */
function profileOf(nodes: Array<[number, string, string, number | undefined, number]>): string {
  dir = mkdtempSync(join(tmpdir(), "cpu-profile-test-"));
  const profile = {
    nodes: nodes.map(([id, functionName, url]) => ({
      id,
      callFrame: { functionName, url },
      children: nodes.filter(([, , , parent]) => parent === id).map(([child]) => child),
    })),
    samples: nodes.map(([id]) => id),
    timeDeltas: nodes.map(([, , , , ms]) => ms * 1000),
  };
  writeFileSync(join(dir, "CPU.20261207.060000.4242.0.001.cpuprofile"), JSON.stringify(profile));
  // A worker thread's profile beside it is not the main thread's.
  writeFileSync(join(dir, "CPU.20261207.060000.4242.1.002.cpuprofile"), "{}");
  return dir;
}

describe("cpuShares: a server's main-thread time by the part of the process it ran in", () => {
  it("counts a native call for the nearest caller that belongs to a part, and what has none as Node's own", () => {
    const shares = cpuShares(
      profileOf([
        [1, "(root)", "", undefined, 0],
        [2, "processTicksAndRejections", "node:internal/process/task_queues", 1, 10],
        [3, "flush", "file:///srv/dist/src/audit.js", 2, 5],
        [4, "writeSync", "node:fs", 3, 5],
        [5, "writeBuffer", "", 4, 20],
        [6, "openMany", "file:///srv/dist/src/core/cache/memory-seal.js", 2, 5],
        [7, "update", "node:internal/crypto/cipher", 6, 5],
        [8, "respond", "node:internal/http2/core", 2, 10],
        [9, "answer", "file:///srv/dist/src/server/fast-path/grpc-unary-calls.js", 2, 10],
        [10, "(garbage collector)", "", 1, 10],
        [11, "(idle)", "", 1, 10],
        [12, "(program)", "", 1, 10],
      ]),
    );
    expect(Object.fromEntries(shares.map(({ part, share }) => [part, Math.round(share * 100)]))).toEqual({
      "Node's HTTP/2 (streams, headers, writes)": 10,
      "audit records (serialising and writing them)": 30,
      "secretgate's unary paths and answer encoding (src/server/fast-path)": 10,
      "secretgate's core: authentication, access, cache and its AES (src/core, src/auth, …)": 10,
      "Node, other (event loop, timers, microtasks)": 10,
      "garbage collection": 10,
      "V8 and native code not attributed to a caller": 10,
      "idle (the event loop waiting for the load generator)": 10,
    });
  });

  it("says so when the directory holds no profile", () => {
    dir = mkdtempSync(join(tmpdir(), "cpu-profile-test-"));
    expect(() => cpuShares(dir!)).toThrow(/no CPU profile of a main thread/);
  });
});
