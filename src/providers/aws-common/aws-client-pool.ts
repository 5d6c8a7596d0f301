import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { AwsCredentials } from "./aws-credentials.js";
import type { AwsConnection, RoleToAssume } from "./aws-settings.js";
import { AWS_MAX_ATTEMPTS, awsRequestHandler } from "./sdk-options.js";

/** The location keys a team may set on an AWS back end (SPEC §5). */
export interface AwsTeamLocation {
  aws_region_name?: string;
  aws_role_name?: string;
  aws_session_name?: string;
  aws_external_id?: string;
}

/** What an SDK client constructor needs from the pool. */
export interface AwsClientConfig {
  region: string;
  endpoint?: string;
  credentials: AwsCredentialIdentityProvider;
  maxAttempts: number;
  requestHandler: typeof awsRequestHandler;
}

interface Destroyable {
  destroy(): void;
}

/**
 * SDK clients per resolved region and role: a team's calls go to its region, signed as its
 * role; everything else uses the service's own. Clients and assumed credentials are reused.
 */
export class AwsClientPool<Client extends Destroyable> {
  private readonly clients = new Map<string, { client: Client; role: RoleToAssume | undefined; region: string }>();
  readonly credentials: AwsCredentials;

  constructor(
    private readonly connection: AwsConnection,
    private readonly make: (config: AwsClientConfig) => Client,
  ) {
    this.credentials = new AwsCredentials(connection);
  }

  /** The client for a team's location, with its credentials ready (bounded by the caller's signal). */
  async client(team: AwsTeamLocation, signal: AbortSignal): Promise<Client> {
    const region = team.aws_region_name ?? this.connection.region;
    const role = this.role(team);
    const key = locationKey(team, this.connection);
    let entry = this.clients.get(key);
    if (!entry) {
      const credentials = this.credentials.forRole(role, region);
      const client = this.make({
        region,
        ...(this.connection.endpoint ? { endpoint: this.connection.endpoint } : {}),
        credentials: () => credentials.get(),
        maxAttempts: AWS_MAX_ATTEMPTS,
        requestHandler: awsRequestHandler,
      });
      entry = { client, role, region };
      this.clients.set(key, entry);
    }
    // Resolving here, rather than inside the SDK's middleware, lets the caller's deadline bound an STS call.
    await this.credentials.forRole(entry.role, entry.region).get(signal);
    return entry.client;
  }

  close(): void {
    for (const { client } of this.clients.values()) client.destroy();
    this.clients.clear();
    this.credentials.close();
  }

  private role(team: AwsTeamLocation): RoleToAssume | undefined {
    if (!team.aws_role_name) return undefined;
    return {
      roleArn: team.aws_role_name,
      sessionName: team.aws_session_name ?? this.connection.sessionName,
      ...(team.aws_external_id ? { externalId: team.aws_external_id } : {}),
    };
  }
}

/** Where a team's AWS calls go: its region and the role they are signed as. */
export function locationKey(team: AwsTeamLocation, connection: Pick<AwsConnection, "region">): string {
  return JSON.stringify([
    team.aws_region_name ?? connection.region,
    team.aws_role_name ?? null,
    team.aws_session_name ?? null,
    team.aws_external_id ?? null,
  ]);
}
