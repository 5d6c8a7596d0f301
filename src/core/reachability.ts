import type { Logger } from "pino";
import type { CachedDriver } from "./cached-driver.js";
import { Code } from "./errors.js";

/**
 * A name that normally does not exist; valid for every back end's naming rules. Read from the back
 * end whatever hosted_keys says (Policy.routeRead), so a client's health check reaches it too.
 */
export const PROBE_NAME = "secretgate-readiness-probe";
const PROBE_TIMEOUT_MS = 5_000;
const RETRY_INTERVAL_MS = 2_000;

/**
 * The start-up probe behind /readyz: asks the back end for a sentinel name until it gives a
 * definite answer (a value, NOT_FOUND, even PERMISSION_DENIED proves it is there). Only after
 * that does the replica take traffic; later outages are the breaker's and the cache's business.
 */
export class StartupProbe {
  private reached = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly cached: CachedDriver,
    private readonly logger: Logger,
  ) {}

  get reachable(): boolean {
    return this.reached;
  }

  /** Makes the first attempt (resolving when it ends) and keeps trying in the background until one succeeds. */
  async start(): Promise<void> {
    const call = {
      team: {},
      teamId: "",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      deadline: Date.now() + PROBE_TIMEOUT_MS,
    };
    try {
      await this.cached.driver.read(PROBE_NAME, call);
      this.reached = true;
    } catch (error) {
      const { code, message } = this.cached.toServiceError(error, call);
      this.reached = code !== Code.Unavailable && code !== Code.DeadlineExceeded;
      if (!this.reached)
        this.logger.warn({ backend: this.cached.source, reason: message }, "back end not reachable yet; not ready");
    }
    if (this.reached) {
      this.logger.info({ backend: this.cached.source }, "back end reachable");
    } else if (!this.stopped) {
      this.timer = setTimeout(() => void this.start(), RETRY_INTERVAL_MS);
      this.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
