import type { CallRecord } from "../emulators/aws-common/endpoint.js";

/** Reads the emulator's call log through its admin endpoint, as a sandbox user would. */
export async function emulatorCalls(
  endpoint: string,
): Promise<{ counts: Record<string, number>; calls: CallRecord[] }> {
  const response = await fetch(`${endpoint}/__admin/calls`);
  return (await response.json()) as { counts: Record<string, number>; calls: CallRecord[] };
}

export async function admin(endpoint: string, path: string, body?: unknown, method = "POST"): Promise<void> {
  const response = await fetch(`${endpoint}/__admin/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!response.ok) throw new Error(`admin ${path} answered ${response.status}`);
}

export async function resetEmulator(endpoint: string): Promise<void> {
  await admin(endpoint, "faults", undefined, "DELETE");
  await admin(endpoint, "calls", undefined, "DELETE");
  await admin(endpoint, "roles", undefined, "DELETE");
}
