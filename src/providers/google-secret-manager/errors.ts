import { ServiceError } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";
import { classifyGoogleError } from "../google-common/errors.js";
import { SYSTEM } from "./settings.js";

/** A Secret Manager failure (a gRPC or HTTP status from google-gax) as a portable code; never a value. */
export function classifySecretManagerError(error: unknown): ClassifiedError {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  return classifyGoogleError(error, SYSTEM);
}
