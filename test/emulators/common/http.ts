import type { IncomingMessage, ServerResponse } from "node:http";
import { type AppliedFault, sleep } from "./faults.js";

/** The whole request body. */
export function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/**
 * Applies an injected fault to an HTTP emulator's response; true when it answered (or dropped)
 * the request itself. `refuse` writes the back end's own error for a status (429 when throttling,
 * with Retry-After already set); `missing` its answer for a name it does not hold (for `lag`).
 */
export async function applyHttpFault(
  fault: AppliedFault,
  response: ServerResponse,
  refuse: (status: number) => void,
  missing: () => void,
): Promise<boolean> {
  if (fault.latencyMs) await sleep(fault.latencyMs);
  switch (fault.kind) {
    case "latency":
      return false;
    case "hold":
      await fault.released;
      return false;
    case "drop":
      response.socket?.destroy();
      return true;
    case "throttle":
      response.setHeader("Retry-After", String(fault.retryAfterSeconds ?? 1));
      refuse(429);
      return true;
    case "error":
      refuse(fault.status ?? 500);
      return true;
    case "lag":
      missing();
      return true;
  }
}
