import type { ClassifiedError } from "../../drivers/driver.js";
import { classifyAwsError } from "../aws-common/aws-errors.js";
import { SYSTEM } from "./settings.js";

/** A Secrets Manager failure as a portable code, naming the operation and the secret when known (never a value). */
export function classifySecretsManagerError(error: unknown, operation?: string, name?: string): ClassifiedError {
  return classifyAwsError(error, {
    system: SYSTEM,
    ...(operation !== undefined ? { operation } : {}),
    ...(name !== undefined ? { name } : {}),
  });
}
