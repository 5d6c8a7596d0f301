import { readFile } from "node:fs/promises";
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, type Credentials, STSClient } from "@aws-sdk/client-sts";
import { fromIni, fromNodeProviderChain } from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { LocationClients } from "../../drivers/location-clients.js";
import type { AwsConnection, RoleToAssume } from "./aws-settings.js";
import { RefreshingCredentials } from "./refreshing-credentials.js";
import { AWS_MAX_ATTEMPTS, awsRequestHandler } from "./sdk-options.js";

const ASSUMED_SESSION_SECONDS = 3600;

/**
 * The service's AWS identity (docs/backends/aws-secrets-manager.md, "Credentials and endpoints"; in LiteLLM's
 * order: web identity token, role, profile,
 * static keys, IRSA token file, the SDK's default chain) and the roles teams ask it to assume.
 * Assumed credentials are cached per role until shortly before they expire; both they and the
 * STS clients (per region) are kept for at most MAX_LOCATIONS locations, as teams choose them.
 */
export class AwsCredentials {
  readonly base: RefreshingCredentials;
  private readonly assumed: LocationClients<RefreshingCredentials>;
  private readonly stsClients: LocationClients<STSClient>;

  constructor(
    private readonly connection: AwsConnection,
    options: { maxLocations?: number; retireAfterMs?: number } = {},
  ) {
    this.base = this.baseCredentials();
    this.assumed = new LocationClients({ max: options.maxLocations });
    this.stsClients = new LocationClients({
      ...options,
      max: options.maxLocations,
      retire: (client) => client.destroy(),
    });
  }

  /** Credentials for a team's role, assumed with the service's own identity; the service's own without one. */
  forRole(role: RoleToAssume | undefined, region: string): RefreshingCredentials {
    if (!role) return this.base;
    const key = JSON.stringify([role.roleArn, role.sessionName, role.externalId ?? null, region]);
    return this.assumed.get(
      key,
      () => new RefreshingCredentials(() => this.assumeRole(role, region, "base", () => this.base.get())),
    );
  }

  close(): void {
    this.stsClients.close();
  }

  private baseCredentials(): RefreshingCredentials {
    const { role, webIdentityToken, profile, staticKeys, tokenFileRole, region } = this.connection;
    if (role && webIdentityToken) {
      return new RefreshingCredentials(() => this.assumeRoleWithWebIdentity(role, webIdentityToken, region));
    }
    const source = this.sourceProvider();
    if (role) return new RefreshingCredentials(() => this.assumeRole(role, region, "source", source));
    if (profile || staticKeys) return new RefreshingCredentials(source);
    if (tokenFileRole) {
      const irsaRole = { roleArn: tokenFileRole.roleArn, sessionName: this.connection.sessionName };
      // The platform rotates the token file; read it on every refresh.
      return new RefreshingCredentials(async () =>
        this.assumeRoleWithWebIdentity(irsaRole, (await readFile(tokenFileRole.tokenFile, "utf8")).trim(), region),
      );
    }
    return new RefreshingCredentials(source);
  }

  /** What signs an AssumeRole call: a profile, static keys, or the SDK's default chain. */
  private sourceProvider(): AwsCredentialIdentityProvider {
    const { profile, staticKeys } = this.connection;
    if (profile) return fromIni({ profile });
    if (staticKeys) return async () => staticKeys;
    return fromNodeProviderChain();
  }

  private async assumeRole(
    role: RoleToAssume,
    region: string,
    signer: "source" | "base",
    source: AwsCredentialIdentityProvider,
  ): Promise<AwsCredentialIdentity> {
    const output = await this.sts(region, signer, source).send(
      new AssumeRoleCommand({
        RoleArn: role.roleArn,
        RoleSessionName: role.sessionName,
        DurationSeconds: ASSUMED_SESSION_SECONDS,
        ...(role.externalId ? { ExternalId: role.externalId } : {}),
      }),
    );
    return toIdentity(output.Credentials, role.roleArn);
  }

  private async assumeRoleWithWebIdentity(
    role: RoleToAssume,
    token: string,
    region: string,
  ): Promise<AwsCredentialIdentity> {
    const output = await this.sts(region, "unsigned").send(
      new AssumeRoleWithWebIdentityCommand({
        RoleArn: role.roleArn,
        RoleSessionName: role.sessionName,
        WebIdentityToken: token,
        DurationSeconds: ASSUMED_SESSION_SECONDS,
      }),
    );
    return toIdentity(output.Credentials, role.roleArn);
  }

  /** STS clients per region and signer; web identity calls are unsigned. */
  private sts(
    region: string,
    signer: "source" | "base" | "unsigned",
    credentials?: AwsCredentialIdentityProvider,
  ): STSClient {
    return this.stsClients.get(
      `${region}\n${signer}`,
      () =>
        new STSClient({
          region,
          maxAttempts: AWS_MAX_ATTEMPTS,
          requestHandler: awsRequestHandler,
          ...(this.connection.stsEndpoint ? { endpoint: this.connection.stsEndpoint } : {}),
          ...(credentials ? { credentials } : {}),
        }),
    );
  }
}

function toIdentity(credentials: Credentials | undefined, roleArn: string): AwsCredentialIdentity {
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey) {
    throw new Error(`STS returned no credentials for role ${roleArn}`);
  }
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    ...(credentials.SessionToken ? { sessionToken: credentials.SessionToken } : {}),
    ...(credentials.Expiration ? { expiration: credentials.Expiration } : {}),
  };
}
