import type { MigrateSecretRequest, MigrateSecretResponse, PlanMigrationRequest } from "../../gen/secretgate/v1/secret_service_pb.js";

/** A migration's two steps, against a running server or in this process. Failures are thrown. */
export interface MigrationSteps {
  plan(request: PlanMigrationRequest): Promise<string[]>;
  migrate(request: MigrateSecretRequest): Promise<MigrateSecretResponse>;
  close(): Promise<void>;
}
