import { create, createFileRegistry, type DescMethodUnary } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { AdminService } from "./gen/secretgate/v1/admin_service_pb.js";
import { SecretService } from "./gen/secretgate/v1/secret_service_pb.js";

/** One part of a health check: `"ok"`, `"failed"` or `"not checked"`, and why. */
export interface HealthCheck {
  status: "ok" | "failed" | "not checked";
  detail: string;
}

/** The server, the token and the back ends, each checked (or not) with why; `healthy` when none failed. */
export interface HealthReport {
  healthy: boolean;
  server: HealthCheck;
  token: HealthCheck;
  backends: HealthCheck;
}

/** The reserved name a health check reads: the server asks the back end for it whatever `hosted_keys` says. */
export const PROBE_NAME = "secretgate-readiness-probe";

/**
 * grpc.health.v1.Health, described at run time from its three declarations (the server's
 * descriptors live in the server's own gen/, which this package does not ship).
 */
const healthCheck: DescMethodUnary = (() => {
  const { STRING: TYPE_STRING, ENUM: TYPE_ENUM } = FieldDescriptorProto_Type;
  const optional = FieldDescriptorProto_Label.OPTIONAL;
  const file = create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      { name: "HealthCheckRequest", field: [{ name: "service", jsonName: "service", number: 1, type: TYPE_STRING, label: optional }] },
      {
        name: "HealthCheckResponse",
        field: [{ name: "status", jsonName: "status", number: 1, type: TYPE_ENUM, typeName: ".grpc.health.v1.HealthCheckResponse.ServingStatus", label: optional }],
        enumType: [{ name: "ServingStatus", value: ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"].map((name, number) => ({ name, number })) }],
      },
    ],
    service: [{ name: "Health", method: [{ name: "Check", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: ".grpc.health.v1.HealthCheckResponse" }] }],
  });
  const [check] = createFileRegistry(file, () => undefined).getService("grpc.health.v1.Health")!.methods;
  if (check?.methodKind !== "unary") throw new Error("grpc.health.v1.Health/Check is declared unary above");
  return check as DescMethodUnary;
})();
const SERVING_STATUSES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/** The token question, in one place: AdminService's WhoAmI answers any valid token and refuses every other one (UNAUTHENTICATED). */
function whoAmI(transport: Transport, timeoutMs: number): Promise<{ caller?: { name: string } }> {
  return createClient(AdminService, transport).whoAmI({}, { timeoutMs });
}

/**
 * Asks, in order and each only when the one before passed, within `timeoutMs`: the server
 * (grpc.health.v1 Check of SecretService answers SERVING), the token (WhoAmI) and the back end a read
 * reaches (a Read of PROBE_NAME past the cache: found or "not in the back end" means it answered).
 * Never rejects for what it checks.
 */
export async function runHealthCheck(transport: Transport, timeoutMs: number): Promise<HealthReport> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(deadline - Date.now(), 1);
  const notChecked = (detail: string): HealthCheck => ({ status: "not checked", detail });
  const report = (server: HealthCheck, token: HealthCheck, backends: HealthCheck): HealthReport => ({
    healthy: ![server, token, backends].some((check) => check.status === "failed"),
    server,
    token,
    backends,
  });

  let server: HealthCheck;
  try {
    const { message } = await transport.unary(healthCheck, undefined, left(), undefined, { service: SecretService.typeName });
    const answer = message as unknown as { status: number };
    const status = SERVING_STATUSES[answer.status] ?? `status ${answer.status}`;
    server = status === "SERVING" ? { status: "ok", detail: status } : { status: "failed", detail: `its health check answered ${status}` };
  } catch (error) {
    server = { status: "failed", detail: `did not answer its health check: ${describe(error)}` };
  }
  if (server.status !== "ok") return report(server, notChecked("the server did not answer"), notChecked("the server did not answer"));

  let token: HealthCheck;
  try {
    const { caller } = await whoAmI(transport, left());
    token = { status: "ok", detail: `accepted as ${JSON.stringify(caller?.name ?? "")}` };
  } catch (error) {
    const rejected = ConnectError.from(error).code === Code.Unauthenticated;
    token = { status: "failed", detail: `${rejected ? "rejected" : "could not be checked"}: ${describe(error)}` };
    return report(server, token, notChecked("the token was not accepted"));
  }

  let backends: HealthCheck;
  try {
    const [result] = (await createClient(SecretService, transport).read({ names: [PROBE_NAME], bypassCache: true }, { timeoutMs: left() })).results;
    const { status = "", reason = "", message = "" } = result?.error ?? {};
    if (result?.found) backends = { status: "ok", detail: `${result.source} answered` };
    else if (status === "NOT_FOUND" && reason === "NOT_HOSTED") backends = notChecked(`reads are not served here: ${message}`);
    else if (status === "NOT_FOUND") backends = { status: "ok", detail: `answered: ${message}` };
    else if (status === "PERMISSION_DENIED") backends = notChecked(`the probe read was refused: ${message}`);
    else backends = { status: "failed", detail: `${status}: ${message}` };
  } catch (error) {
    backends = { status: "failed", detail: describe(error) };
  }
  return report(server, token, backends);
}

/** A failed call as `UNAVAILABLE: message`, with gRPC's canonical code name. */
function describe(error: unknown): string {
  const failure = ConnectError.from(error);
  const name = Code[failure.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
  return `${name}: ${failure.rawMessage}`;
}
