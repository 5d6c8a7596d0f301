import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { LocationClients } from "../../drivers/location-clients.js";
import { AwsCredentials } from "./aws-credentials.js";
import type { AwsConnection, RoleToAssume } from "./aws-settings.js";
import { AWS_MAX_ATTEMPTS, awsRequestHandler } from "./sdk-options.js";

/** The location keys a team may set on an AWS back end (docs/configuration.md, "Team settings"). */
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

interface PooledClient<Client> {
  client: Client;
  role: RoleToAssume | undefined;
  region: string;
}

/**
 * SDK clients per resolved region and role: a team's calls go to its region, signed as its
 * role; everything else uses the service's own. Clients and assumed credentials are reused, for
 * at most MAX_LOCATIONS locations (the least recently used client is destroyed once its calls are over).
 */
export class AwsClientPool<Client extends Destroyable> {
  private readonly clients: LocationClients<PooledClient<Client>>;
  readonly credentials: AwsCredentials;

  constructor(
    private readonly connection: AwsConnection,
    private readonly make: (config: AwsClientConfig) => Client,
    options: { maxLocations?: number; retireAfterMs?: number } = {},
  ) {
    this.credentials = new AwsCredentials(connection, options);
    this.clients = new LocationClients({
      ...options,
      max: options.maxLocations,
      retire: (entry) => entry.client.destroy(),
    });
  }

  /** Locations holding a client now. */
  get size(): number {
    return this.clients.size;
  }

  /** The client for a team's location, with its credentials ready (bounded by the caller's signal). */
  async client(team: AwsTeamLocation, signal: AbortSignal): Promise<Client> {
    const region = team.aws_region_name ?? this.connection.region;
    const role = this.role(team);
    const entry = this.clients.get(locationKey(team, this.connection), () => ({
      client: this.make({
        region,
        ...(this.connection.endpoint ? { endpoint: this.connection.endpoint } : {}),
        // Looked up per signing, so the client and the pool share one set of assumed credentials.
        credentials: () => this.credentials.forRole(role, region).get(),
        maxAttempts: AWS_MAX_ATTEMPTS,
        requestHandler: awsRequestHandler,
      }),
      role,
      region,
    }));
    // Resolving here, rather than inside the SDK's middleware, lets the caller's deadline bound an STS call.
    await this.credentials.forRole(entry.role, entry.region).get(signal);
    return entry.client;
  }

  close(): void {
    this.clients.close();
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
