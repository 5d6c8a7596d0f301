import { describe, expect, it } from "vitest";
import type { AuditHealth } from "../../../src/audit.js";
import {
  type BackendHealth,
  publishReadiness,
  Readiness,
  STRICT_HEALTH_SERVICE,
} from "../../../src/server/readiness.js";

const backend = (name: string, overrides: Partial<BackendHealth> = {}): BackendHealth => ({
  name,
  system: "hashicorp_vault",
  reachable: true,
  breaker: "closed",
  cache: { entries: 0, bytes: 0 },
  ...overrides,
});
const writing: AuditHealth = { state: "writing", onFailure: "fail_closed", destination: "file" };

function readiness(state: { backends: BackendHealth[]; database?: boolean; audit?: AuditHealth }): Readiness {
  const ready = new Readiness({
    backends: () => state.backends,
    defaultBackend: state.backends[0]!.name,
    ...(state.database !== undefined ? { databaseConnected: () => state.database! } : {}),
    audit: () => state.audit ?? writing,
  });
  ready.serving();
  return ready;
}

describe("Readiness: ready while this replica can answer Reads", () => {
  it.each<[string, { backends: BackendHealth[]; database?: boolean; audit?: AuditHealth }, boolean, boolean, string[]]>(
    [
      ["everything well", { backends: [backend("vault")], database: true }, true, true, []],
      [
        "the database unreachable (a shared dependency)",
        { backends: [backend("vault")], database: false },
        true,
        false,
        ["database"],
      ],
      [
        "the only breaker open, values cached",
        { backends: [backend("vault", { breaker: "open", cache: { entries: 3, bytes: 300 } })] },
        true,
        true,
        ["breaker:vault"],
      ],
      [
        "the only breaker open, nothing cached",
        { backends: [backend("vault", { breaker: "open" })] },
        false,
        false,
        ["breaker:vault"],
      ],
      [
        "the only back end never reached, nothing cached (a start against a back end that is down)",
        { backends: [backend("vault", { reachable: false })] },
        false,
        false,
        ["backend:vault"],
      ],
      [
        "one of two back ends never reached",
        { backends: [backend("vault"), backend("aws", { reachable: false })] },
        true,
        false,
        ["backend:aws"],
      ],
      [
        "a breaker half open",
        { backends: [backend("vault", { breaker: "half_open" })] },
        true,
        true,
        ["breaker:vault"],
      ],
      [
        "audit failing under fail_closed (every call is refused)",
        { backends: [backend("vault")], audit: { ...writing, state: "failing", error: "ENOSPC" } },
        false,
        false,
        ["audit"],
      ],
      [
        "audit failing under fail_open",
        {
          backends: [backend("vault")],
          audit: { ...writing, state: "failing", onFailure: "fail_open", error: "ENOSPC" },
        },
        true,
        false,
        ["audit"],
      ],
    ],
  )("%s", (_, state, ready, strict, degraded) => {
    const check = readiness(state);
    expect(check.check(false)).toMatchObject({ ready, body: { status: ready ? "ready" : "not ready", degraded } });
    expect(check.check(true)).toMatchObject({ ready: strict, body: { strict: true, degraded } });
  });

  it("is not ready while starting and from the start of a shutdown, whatever else holds", () => {
    const check = new Readiness({ backends: () => [backend("vault")], defaultBackend: "vault", audit: () => writing });
    expect(check.check(false)).toMatchObject({ ready: false, body: { reason: "starting" } });
    check.serving();
    expect(check.check(false).ready).toBe(true);
    check.stopping();
    expect(check.check(false)).toMatchObject({ ready: false, body: { reason: "shutting down" } });
    check.serving();
    expect(check.check(false).ready).toBe(false);
  });

  it("tells the gRPC health service the same, setting a status only when it changes", () => {
    const state = { backends: [backend("vault")], database: true };
    const check = readiness(state);
    const set: string[] = [];
    const published = publishReadiness(
      check,
      { setStatus: (service, status) => set.push(`${service || '""'}=${status}`) },
      ["secretgate.v1.SecretService", "secretgate.v1.AdminService"],
    );
    try {
      expect(set).toEqual([
        '""=SERVING',
        "secretgate.v1.SecretService=SERVING",
        "secretgate.v1.AdminService=SERVING",
        `${STRICT_HEALTH_SERVICE}=SERVING`,
      ]);
      published.update();
      expect(set).toHaveLength(4);
      state.database = false;
      published.update();
      expect(set.slice(4)).toEqual([`${STRICT_HEALTH_SERVICE}=NOT_SERVING`]);
      check.stopping();
      published.update();
      expect(set.slice(5)).toEqual([
        '""=NOT_SERVING',
        "secretgate.v1.SecretService=NOT_SERVING",
        "secretgate.v1.AdminService=NOT_SERVING",
      ]);
    } finally {
      published.stop();
    }
  });
});
