import type { AuditHealth } from "../audit.js";
import type { BreakerState } from "../core/resilience/circuit-breaker.js";

/** One back end as readiness sees it. */
export interface BackendHealth {
  name: string;
  system: string;
  /** It answered its start-up probe. */
  reachable: boolean;
  breaker: BreakerState;
  cache: { entries: number; bytes: number };
}

/** What readiness is worked out from; each asked afresh on every check. */
export interface ReadinessSources {
  backends(): BackendHealth[];
  /** The default back end's name: the body's top-level `backend` fields are its. */
  defaultBackend: string;
  /** Whether the change-notice connection to PostgreSQL is up; absent without PostgreSQL. */
  databaseConnected?: () => boolean;
  audit(): AuditHealth;
}

/** A check's outcome: the status to answer and the JSON body saying why. */
export interface ReadinessCheck {
  ready: boolean;
  body: Record<string, unknown>;
}

/**
 * Readiness as a load balancer needs it: "send me traffic" while this replica can answer Reads
 * (a back end that answered its start-up probe and whose breaker is not open, or any cached
 * value), not "every dependency is perfect". A shared dependency failing (PostgreSQL, a back end
 * every replica uses) must not take the whole fleet out of service at once, while each replica
 * can still serve what it holds. Not ready only while starting, while shutting down, when it
 * can answer nothing, or when audit.on_failure is fail_closed and records cannot be written (it
 * refuses every call then). The body lists what is degraded.
 *
 * The strict check keeps the meaning /readyz had before: every back end answered its start-up
 * probe, the database's change notices are heard, and (new) audit records are written.
 *
 * /readyz (HTTP) and grpc.health.v1 (the gRPC port) answer from the same checks.
 */
export class Readiness {
  private phase: "starting" | "serving" | "stopping" = "starting";

  constructor(private readonly sources: ReadinessSources) {}

  /** The listeners are up: from now on the checks decide. */
  serving(): void {
    if (this.phase === "starting") this.phase = "serving";
  }

  /** Shutdown began: not ready from now on. */
  stopping(): void {
    this.phase = "stopping";
  }

  check(strict: boolean): ReadinessCheck {
    const backends = this.sources.backends();
    const audit = this.sources.audit();
    const connected = this.sources.databaseConnected?.();
    const degraded: string[] = [];
    if (connected === false) degraded.push("database");
    for (const backend of backends) {
      if (!backend.reachable) degraded.push(`backend:${backend.name}`);
      if (backend.breaker !== "closed") degraded.push(`breaker:${backend.name}`);
    }
    if (audit.state !== "writing") degraded.push("audit");

    const canRead = backends.some(
      (backend) => (backend.reachable && backend.breaker !== "open") || backend.cache.entries > 0,
    );
    const reason =
      this.phase !== "serving"
        ? this.phase === "starting"
          ? "starting"
          : "shutting down"
        : audit.state !== "writing" && audit.onFailure === "fail_closed"
          ? "audit records cannot be written (audit.on_failure: fail_closed)"
          : !canRead
            ? "no back end can answer and nothing is cached"
            : strict && degraded.some((what) => what === "database" || what === "audit" || what.startsWith("backend:"))
              ? "strict: a dependency is degraded"
              : undefined;

    const home = backends.find((backend) => backend.name === this.sources.defaultBackend) ?? backends[0]!;
    return {
      ready: reason === undefined,
      body: {
        status: reason === undefined ? "ready" : "not ready",
        ...(reason !== undefined ? { reason } : {}),
        ...(strict ? { strict: true } : {}),
        degraded,
        // The default back end's, as with one back end; then every back end's.
        backend: home.name,
        backendReachable: home.reachable,
        breaker: home.breaker,
        cache: home.cache,
        backends: Object.fromEntries(
          backends.map((backend) => [
            backend.name,
            { system: backend.system, reachable: backend.reachable, breaker: backend.breaker, cache: backend.cache },
          ]),
        ),
        ...(connected !== undefined ? { database: connected ? "connected" : "unreachable" } : {}),
        audit,
      },
    };
  }
}

/** The gRPC health service's statuses, as grpc-health-check's HealthImplementation sets them. */
export interface HealthStatuses {
  setStatus(service: string, status: "SERVING" | "NOT_SERVING"): void;
}

/** The gRPC health service name answering as `/readyz?strict`. */
export const STRICT_HEALTH_SERVICE = "secretgate.strict";

/**
 * How often the gRPC health service's statuses are brought in line with readiness (Watch streams hear of changes
 * within this).
 */
const HEALTH_REFRESH_MS = 1_000;

/**
 * The gRPC health service answers as /readyz does: "" and each of `services` (the served
 * services' names: secretgate.v1.SecretService, secretgate.v1.AdminService) by the readiness check,
 * `secretgate.strict` by the strict one (each back end's own name, by its
 * breaker, is set where the breakers change). Brought up to date every second, and by `update`
 * at once (start, shutdown); a status is set only when it changes, so Watch streams hear of
 * changes only.
 */
export function publishReadiness(
  readiness: Readiness,
  health: HealthStatuses,
  services: readonly string[],
): { update(): void; stop(): void } {
  const current = new Map<string, string>();
  const set = (service: string, serving: boolean) => {
    const status = serving ? "SERVING" : "NOT_SERVING";
    if (current.get(service) === status) return;
    current.set(service, status);
    health.setStatus(service, status);
  };
  const update = () => {
    const ready = readiness.check(false).ready;
    set("", ready);
    for (const service of services) set(service, ready);
    set(STRICT_HEALTH_SERVICE, readiness.check(true).ready);
  };
  update();
  const timer = setInterval(update, HEALTH_REFRESH_MS).unref();
  return { update, stop: () => clearInterval(timer) };
}
