import type { ClassifiedError } from "../../drivers/driver.js";
import { classifyAwsError } from "../aws-common/aws-errors.js";
import { SYSTEM } from "./settings.js";

/** A KMS failure as a portable code, naming the operation and the variable when known (never a value). */
export function classifyKmsError(error: unknown, operation?: string, variable?: string): ClassifiedError {
  return classifyAwsError(error, {
    system: SYSTEM,
    ...(operation !== undefined ? { operation } : {}),
    ...(variable !== undefined ? { name: variable } : {}),
  });
}
