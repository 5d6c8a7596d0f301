import type {
  MigrateSecretRequest,
  MigrateSecretResponse,
  PlanMigrationRequest,
  PlanMigrationResponse,
} from "../../gen/secretgate/v1/admin_service_pb.js";

/** A migration's two steps, against a running server or in this process. Failures are thrown. */
export interface MigrationSteps {
  plan(request: PlanMigrationRequest): Promise<PlanMigrationResponse>;
  migrate(request: MigrateSecretRequest): Promise<MigrateSecretResponse>;
  close(): Promise<void>;
}
