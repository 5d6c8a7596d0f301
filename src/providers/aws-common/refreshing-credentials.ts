import type { AwsCredentialIdentity } from "@smithy/types";
import { untilAborted } from "../../drivers/until-aborted.js";

/** Assumed credentials are replaced this long before they expire, so no call signs with a dying key. */
export const REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * Credentials fetched once and reused until shortly before they expire. Concurrent callers
 * share one fetch; each waits only as long as its own deadline allows.
 */
export class RefreshingCredentials {
  private current: AwsCredentialIdentity | undefined;
  private pending: Promise<AwsCredentialIdentity> | undefined;

  constructor(
    private readonly fetch: () => Promise<AwsCredentialIdentity>,
    private readonly now: () => number = Date.now,
  ) {}

  get(signal?: AbortSignal): Promise<AwsCredentialIdentity> {
    if (this.current && !this.expiresSoon(this.current)) return Promise.resolve(this.current);
    this.pending ??= this.fetch()
      .then((credentials) => {
        this.current = credentials;
        return credentials;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return signal ? untilAborted(this.pending, signal) : this.pending;
  }

  private expiresSoon(credentials: AwsCredentialIdentity): boolean {
    return credentials.expiration !== undefined && credentials.expiration.getTime() - this.now() <= REFRESH_MARGIN_MS;
  }
}
