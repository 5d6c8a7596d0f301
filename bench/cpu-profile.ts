import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The parts of a server's main-thread time the benchmark reports, in the order it prints them. */
const PARTS = [
  { name: "Node's HTTP/2 (streams, headers, writes)", matches: (url: string) => url.startsWith("node:internal/http2") },
  { name: "grpc-js", matches: (url: string) => url.includes("node_modules/@grpc/grpc-js/") },
  { name: "connect-node", matches: (url: string) => url.includes("node_modules/@connectrpc/") },
  { name: "protobuf-es (decoding requests)", matches: (url: string) => url.includes("node_modules/@bufbuild/") },
  {
    name: "audit records (serialising and writing them)",
    matches: (url: string) => /\/src\/(audit|append-writer)/.test(url),
  },
  {
    name: "secretgate's unary paths and answer encoding (src/server/fast-path)",
    matches: (url: string) => url.includes("/src/server/fast-path/"),
  },
  {
    name: "secretgate's listeners and dispatcher (the rest of src/server)",
    matches: (url: string) => url.includes("/src/server/"),
  },
  {
    name: "secretgate's core: authentication, access, cache and its AES (src/core, src/auth, …)",
    matches: (url: string) => url.includes("/src/"),
  },
] as const;

const GARBAGE_COLLECTION = "garbage collection";
const IDLE = "idle (the event loop waiting for the load generator)";
const NATIVE = "V8 and native code not attributed to a caller";
const OTHER = "Node, other (event loop, timers, microtasks)";

export interface CpuShare {
  part: string;
  /** Of the profile's time, 0–1. */
  share: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Where a server's main thread spent its time, from the `.cpuprofile` that `node --cpu-prof` wrote
 * into `dir` for it. Each sample goes to the part of the nearest frame, itself or a caller, that
 * belongs to one (PARTS): a native call counts for the module that made it (the audit trail's
 * write(2) for the audit trail, the cache's AES for the core), Node's stream machinery under
 * HTTP/2 for HTTP/2.
 */
export function cpuShares(dir: string): CpuShare[] {
  // node names each thread's profile CPU.<date>.<time>.<pid>.<thread>.<sequence>.cpuprofile; the main thread is 0.
  const file = readdirSync(dir).find((name) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  if (!file) throw new Error(`no CPU profile of a main thread in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const partOf = new Map<number, string>();
  const part = (id: number): string => {
    const known = partOf.get(id);
    if (known !== undefined) return known;
    const { functionName, url } = byId.get(id)!.callFrame;
    let found: string;
    if (functionName === "(garbage collector)") found = GARBAGE_COLLECTION;
    else if (functionName === "(idle)") found = IDLE;
    else if (functionName === "(program)") found = NATIVE;
    else {
      const named = PARTS.find((each) => each.matches(url.replaceAll("\\", "/")));
      const up = parent.get(id);
      found = named ? named.name : up === undefined ? OTHER : part(up);
    }
    partOf.set(id, found);
    return found;
  };
  const time = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    time.set(part(id), (time.get(part(id)) ?? 0) + delta);
    total += delta;
  });
  const order = [...PARTS.map((each) => each.name), OTHER, GARBAGE_COLLECTION, NATIVE, IDLE];
  return order
    .filter((name) => (time.get(name) ?? 0) > 0)
    .map((name) => ({ part: name, share: (time.get(name) ?? 0) / Math.max(1, total) }));
}
