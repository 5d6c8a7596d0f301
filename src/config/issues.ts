import type { z } from "zod";
import { ConfigError } from "./config-error.js";

/** Validates `input` against `schema`; a failure is a ConfigError naming each offending key under `at`. */
export function check<T extends z.ZodType>(schema: T, input: unknown, at: string): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, at)).join("; "));
}

/** Formats a validation issue as `path.to.key: reason`. Shared with team-settings validation. */
export function describeIssue(issue: z.core.$ZodIssue, at: string): string {
  const path = [at, ...issue.path.map(String)].filter((part) => part !== "").join(".");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((key) => JSON.stringify(key)).join(", ");
    return `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${keys}`;
  }
  return `${path}: ${issue.message}`;
}
