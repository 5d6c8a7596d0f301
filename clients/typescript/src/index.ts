export {
  CALLER_ENVIRONMENT,
  checkHealth,
  createAdminClient,
  createSecretClient,
  DEFAULT_TIMEOUT_MS,
  MAX_TIMEOUT_MS,
  NOT_HOSTED,
  type AdminClient,
  type AdminClientOptions,
  type ClientOptions,
  type SecretClient,
  type SecretClientOptions,
} from "./client.js";
export { PROBE_NAME, type HealthCheck, type HealthReport } from "./health.js";
export * from "./gen/secretgate/v1/secret_service_pb.js";
export * from "./gen/secretgate/v1/admin_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
