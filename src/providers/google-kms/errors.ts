import { ServiceError } from "../../core/errors.js";
import type { ClassifiedError } from "../../drivers/driver.js";
import { classifyGoogleError } from "../google-common/errors.js";
import { SYSTEM } from "./settings.js";

/** A Cloud KMS failure (a gRPC status from google-gax) as a portable code; never a value or a ciphertext. */
export function classifyGoogleKmsError(error: unknown): ClassifiedError {
  if (error instanceof ServiceError) return { code: error.code, message: error.message };
  return classifyGoogleError(error, SYSTEM);
}
