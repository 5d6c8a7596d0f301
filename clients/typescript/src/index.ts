export { CALLER_ENVIRONMENT, createSecretClient, DEFAULT_TIMEOUT_MS, NOT_HOSTED, type SecretClient, type SecretClientOptions } from "./client.js";
export * from "./gen/secretgate/v1/secret_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
