/**
 * The PostgreSQL database (DATABASE_URL) cannot be reached: at start-up (it could not be opened),
 * or later, for one statement (a restart, a failover, the network). Its own module: main loads it
 * without loading pg, and the core turns it into UNAVAILABLE without knowing pg's errors.
 */
export class DatabaseUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DatabaseUnavailableError";
  }
}

/** What node-postgres says when its connection failed (matched without case). */
const CONNECTION_FAILURES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection error and is not queryable/i,
  /Client was closed/i,
];

/** Network-level failures talking to PostgreSQL (refused, reset, terminated, timed out), as opposed to bugs. */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (
    typeof code === "string" &&
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|57P0[1-3]|08\d\d\d)$/.test(code)
  )
    return true;
  const message = (error as Error).message ?? "";
  return CONNECTION_FAILURES.some((failure) => failure.test(message));
}

/**
 * `work`, with a connection failure turned into DatabaseUnavailableError (naming what was being done); other errors
 * as they are.
 */
export async function orUnavailable<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isConnectionFailure(error))
      throw new DatabaseUnavailableError(
        `the shared database (DATABASE_URL) is unreachable: cannot ${what} (${(error as Error).message})`,
      );
    throw error;
  }
}
