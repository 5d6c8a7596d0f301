import { Code, ServiceError } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";
import { isConnectionFailure } from "../../storage/postgres/database-unavailable.js";

/** The embedded store's failures: its database gone away is UNAVAILABLE (the core retries it); the rest is INTERNAL. */
export function classifyLocalError(error: unknown): ClassifiedError {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  if (isConnectionFailure(error))
    return {
      code: Code.Unavailable,
      message: `the embedded store's database is unreachable: ${(error as Error).message}`,
    };
  return { code: Code.Internal, message: `embedded store failed: ${(error as Error).message}` };
}
