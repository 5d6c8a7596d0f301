import { randomUUID } from "node:crypto";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ReplicateSecretToRegionsCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { ServiceError } from "../../core/errors.js";
import type {
  ClassifiedError,
  DriverCall,
  DriverContext,
  DriverDeleteResult,
  DriverWrite,
  DriverWriteResult,
  SecretDriver,
  SecretMetadata,
  SecretValue,
} from "../../drivers/driver.js";
import { AwsClientPool, type AwsTeamLocation, locationKey } from "../aws-common/aws-client-pool.js";
import { awsErrorName, isScheduledForDeletion } from "../aws-common/aws-errors.js";
import { type AwsConnection, resolveAwsConnection } from "../aws-common/aws-settings.js";
import { classifySecretsManagerError } from "./errors.js";
import { checkSecretName } from "./secret-names.js";
import { RECOVERY_WINDOW_DAYS } from "./settings.js";

type Team = AwsTeamLocation & { kms_key_id?: string };

export interface SecretsManagerOptions {
  connection: AwsConnection;
  kmsKeyId?: string;
  replicaRegions?: readonly string[];
}

/** AWS Secrets Manager through @aws-sdk/client-secrets-manager. */
export class SecretsManagerDriver implements SecretDriver {
  private readonly pool: AwsClientPool<SecretsManagerClient>;

  constructor(private readonly options: SecretsManagerOptions) {
    this.pool = new AwsClientPool(options.connection, (config) => new SecretsManagerClient(config));
  }

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    checkSecretName(name, true);
    return this.run(
      "GetSecretValue",
      name,
      async (client) => {
        try {
          const output = await client.send(new GetSecretValueCommand({ SecretId: name }), { abortSignal: call.signal });
          const version = output.VersionId ?? "";
          if (output.SecretBinary !== undefined) return { binary: new Uint8Array(output.SecretBinary), version };
          return { text: output.SecretString ?? "", version };
        } catch (error) {
          // A secret scheduled for deletion reads as missing, like any other back end's deleted secret.
          if (awsErrorName(error) === "ResourceNotFoundException" || isScheduledForDeletion(error)) return undefined;
          throw error;
        }
      },
      call,
    );
  }

  async currentVersion(name: string, call: DriverCall): Promise<string | undefined> {
    const output = await this.describeSecret(name, call);
    const stages = Object.entries(output?.VersionIdsToStages ?? {});
    return stages.find(([, labels]) => labels.includes("AWSCURRENT"))?.[0];
  }

  /**
   * CreateSecret sets the description and tags; a write to an existing secret (PutSecretValue) changes neither
   * (updateMetadata does).
   */
  async describe(name: string, call: DriverCall): Promise<SecretMetadata | undefined> {
    const output = await this.describeSecret(name, call);
    if (!output) return undefined;
    const tags = (output.Tags ?? []).flatMap(
      ({ Key, Value }): Array<[string, string]> => (Key !== undefined ? [[Key, Value ?? ""]] : []),
    );
    return {
      ...(output.Description !== undefined ? { description: output.Description } : {}),
      tags: Object.fromEntries(tags),
    };
  }

  /**
   * An existing secret's description (UpdateSecret, without a value: no new version) and tags
   * (TagResource, which adds or replaces the tags it names and leaves the others), in place.
   */
  async updateMetadata(name: string, metadata: SecretMetadata, call: DriverCall): Promise<void> {
    checkSecretName(name);
    const { description } = metadata;
    if (description !== undefined) {
      await this.run(
        "UpdateSecret",
        name,
        (client) =>
          client.send(new UpdateSecretCommand({ SecretId: name, Description: description }), {
            abortSignal: call.signal,
          }),
        call,
      );
    }
    const tags = Object.entries(metadata.tags).map(([Key, Value]) => ({ Key, Value }));
    if (tags.length > 0) {
      await this.run(
        "TagResource",
        name,
        (client) => client.send(new TagResourceCommand({ SecretId: name, Tags: tags }), { abortSignal: call.signal }),
        call,
      );
    }
  }

  /**
   * CreateSecret (with description, tags, KMS key); when the name exists, PutSecretValue; when
   * it is scheduled for deletion, RestoreSecret then PutSecretValue (docs/backends/aws-secrets-manager.md, "What
   * each call does"). Only a successful
   * CreateSecret created the secret.
   */
  async write(request: DriverWrite, call: DriverCall): Promise<DriverWriteResult> {
    checkSecretName(request.name);
    return this.run("Write", request.name, (client) => this.upsert(client, request, call, true), call);
  }

  async delete(name: string, options: { force: boolean }, call: DriverCall): Promise<DriverDeleteResult | undefined> {
    checkSecretName(name);
    return this.run(
      "DeleteSecret",
      name,
      async (client) => {
        try {
          await client.send(
            new DeleteSecretCommand({
              SecretId: name,
              ...(options.force
                ? { ForceDeleteWithoutRecovery: true }
                : { RecoveryWindowInDays: RECOVERY_WINDOW_DAYS }),
            }),
            { abortSignal: call.signal },
          );
          return { recoverable: !options.force };
        } catch (error) {
          // Already scheduled for deletion: from a reader's view the name is gone, as with a missing one.
          if (awsErrorName(error) === "ResourceNotFoundException" || isScheduledForDeletion(error)) return undefined;
          throw error;
        }
      },
      call,
    );
  }

  async list(call: DriverCall): Promise<string[]> {
    return this.run(
      "ListSecrets",
      undefined,
      async (client) => {
        const names: string[] = [];
        let nextToken: string | undefined;
        do {
          const page = await client.send(
            new ListSecretsCommand({ MaxResults: 100, ...(nextToken ? { NextToken: nextToken } : {}) }),
            {
              abortSignal: call.signal,
            },
          );
          for (const secret of page.SecretList ?? []) if (secret.Name && !secret.DeletedDate) names.push(secret.Name);
          nextToken = page.NextToken;
        } while (nextToken);
        return names;
      },
      call,
    );
  }

  locationKey(team: Readonly<Record<string, unknown>>): string {
    return locationKey(team as Team, this.options.connection);
  }

  classifyError(error: unknown): ClassifiedError {
    return classifySecretsManagerError(error);
  }

  async close(): Promise<void> {
    this.pool.close();
  }

  /** `retryOnRace` allows one more CreateSecret when a force delete completes mid-way. */
  private async upsert(
    client: SecretsManagerClient,
    request: DriverWrite,
    call: DriverCall,
    retryOnRace: boolean,
  ): Promise<DriverWriteResult> {
    const { name } = request;
    const team = call.team as Team;
    const value =
      request.value.binary !== undefined
        ? { SecretBinary: request.value.binary }
        : { SecretString: request.value.text };
    const kmsKeyId = team.kms_key_id ?? this.options.kmsKeyId;
    const tagList = Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value }));
    try {
      const created = await client.send(
        new CreateSecretCommand({
          Name: name,
          ClientRequestToken: randomUUID(),
          ...value,
          ...(request.description !== undefined ? { Description: request.description } : {}),
          ...(tagList.length > 0 ? { Tags: tagList } : {}),
          ...(kmsKeyId ? { KmsKeyId: kmsKeyId } : {}),
        }),
        { abortSignal: call.signal },
      );
      const warnings = await this.replicate(client, name, call);
      return { version: created.VersionId ?? "", created: true, ...(warnings.length > 0 ? { warnings } : {}) };
    } catch (error) {
      if (awsErrorName(error) === "ResourceExistsException") return this.putValue(client, name, value, call);
      if (!isScheduledForDeletion(error)) throw error;
    }
    try {
      await client.send(new RestoreSecretCommand({ SecretId: name }), { abortSignal: call.signal });
    } catch (error) {
      // A force delete finished between CreateSecret and RestoreSecret: the name is free now.
      if (retryOnRace && awsErrorName(error) === "ResourceNotFoundException")
        return this.upsert(client, request, call, false);
      throw error;
    }
    return this.putValue(client, name, value, call);
  }

  private async putValue(
    client: SecretsManagerClient,
    name: string,
    value: { SecretString: string } | { SecretBinary: Uint8Array },
    call: DriverCall,
  ): Promise<DriverWriteResult> {
    const output = await client.send(
      new PutSecretValueCommand({ SecretId: name, ClientRequestToken: randomUUID(), ...value }),
      {
        abortSignal: call.signal,
      },
    );
    return { version: output.VersionId ?? "", created: false };
  }

  /** Best-effort replication after a create: a failure is a warning on a write that succeeded. */
  private async replicate(client: SecretsManagerClient, name: string, call: DriverCall): Promise<string[]> {
    const regions = this.options.replicaRegions ?? [];
    if (regions.length === 0) return [];
    try {
      const output = await client.send(
        new ReplicateSecretToRegionsCommand({
          SecretId: name,
          AddReplicaRegions: regions.map((Region) => ({ Region })),
        }),
        { abortSignal: call.signal },
      );
      return (output.ReplicationStatus ?? [])
        .filter((status) => status.Status === "Failed")
        .map(
          (status) =>
            `replication of ${JSON.stringify(name)} to ${status.Region} failed: ` +
            `${status.StatusMessage ?? "no reason given"}`,
        );
    } catch (error) {
      const { message } = classifySecretsManagerError(error, "ReplicateSecretToRegions", name);
      return [`replication to ${regions.join(", ")} failed: ${message}`];
    }
  }

  /** DescribeSecret's answer; undefined when the name is missing or scheduled for deletion, as a read says. */
  private describeSecret(name: string, call: DriverCall): Promise<DescribeSecretCommandOutput | undefined> {
    checkSecretName(name, true);
    return this.run(
      "DescribeSecret",
      name,
      async (client) => {
        try {
          const output = await client.send(new DescribeSecretCommand({ SecretId: name }), { abortSignal: call.signal });
          return output.DeletedDate ? undefined : output;
        } catch (error) {
          if (awsErrorName(error) === "ResourceNotFoundException") return undefined;
          throw error;
        }
      },
      call,
    );
  }

  /** Runs one operation with the team's client, classifying failures with the operation and name. */
  private async run<T>(
    operation: string,
    name: string | undefined,
    body: (client: SecretsManagerClient) => Promise<T>,
    call: DriverCall,
  ): Promise<T> {
    try {
      return await body(await this.pool.client(call.team as Team, call.signal));
    } catch (error) {
      if (error instanceof ServiceError) throw error;
      const { code, message } = classifySecretsManagerError(error, operation, name);
      throw new ServiceError(code, message);
    }
  }
}

/** AWS Secrets Manager, through the service's AWS identity (aws-common/aws-credentials.ts) in the configured region. */
export async function createDriver({ settings, env }: DriverContext): Promise<SecretDriver> {
  return new SecretsManagerDriver({
    connection: resolveAwsConnection(settings, env, "SECRETS_MANAGER"),
    ...(typeof settings.kms_key_id === "string" ? { kmsKeyId: settings.kms_key_id } : {}),
    ...(Array.isArray(settings.replica_regions) ? { replicaRegions: settings.replica_regions as string[] } : {}),
  });
}
