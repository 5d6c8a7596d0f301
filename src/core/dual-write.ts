import type { Logger } from "pino";
import type { Backend } from "./backends.js";
import { statusName } from "./errors.js";
import type { Placement } from "./routes.js";

/**
 * A route in mode `dual_write` (while secrets move between back ends) sends Write, Delete and
 * Rotate to its back end and then to every fallback. Only the first decides the call; a
 * fallback that does not take the change is a log line (never a value) and, for a Write, a
 * warning on the answer, so proxies keep working while the copy is repaired. Returns those warnings.
 */
export async function copyToFallbacks(
  placement: Placement<Backend>,
  method: string,
  name: string,
  copy: (target: Backend) => Promise<unknown>,
  logger: Logger,
): Promise<string[]> {
  if (!placement.dualWrite) return [];
  const outcomes = await Promise.all(
    placement.fallback.map(async (target) => {
      try {
        await copy(target);
        return undefined;
      } catch (error) {
        const { code, message } = target.driver.toServiceError(error);
        logger.warn(
          { backend: target.name, method, name, code: statusName(code), reason: message },
          "dual_write: a fallback did not take the change",
        );
        return `dual_write: ${method} did not reach ${target.name}: ${statusName(code)}: ${message}`;
      }
    }),
  );
  return outcomes.filter((warning): warning is string => warning !== undefined);
}
