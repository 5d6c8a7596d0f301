import { Identity, rulesSchema } from "../../src/auth/identity.js";
import type { AuthorizedCall } from "../../src/core/call-context.js";

/** A call into the core by an identity that may do everything. */
export const admin: AuthorizedCall = {
  peer: "unit",
  protocol: "grpc",
  credentials: {},
  identity: Identity.unrestricted("admin"),
};

/** A call into the core by an identity with these rules (as configured: defaults apply). */
export const caller = (rules: Record<string, unknown>): AuthorizedCall => ({
  peer: "unit",
  protocol: "grpc",
  credentials: {},
  identity: new Identity("caller", rulesSchema.parse(rules)),
});
