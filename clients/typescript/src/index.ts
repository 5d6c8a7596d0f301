export { CALLER_ENVIRONMENT, checkHealth, createSecretClient, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, NOT_HOSTED, type SecretClient, type SecretClientOptions } from "./client.js";
export { PROBE_NAME, type HealthCheck, type HealthReport } from "./health.js";
export * from "./gen/secretgate/v1/secret_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
