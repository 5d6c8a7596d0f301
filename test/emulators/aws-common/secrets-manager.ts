import { randomBytes, randomUUID } from "node:crypto";
import { AwsError, invalidParameter, invalidRequest, notFound } from "./aws-error.js";
import { ACCOUNT_ID } from "./identities.js";

const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const MAX_VALUE_BYTES = 65_536;
const DAY_MS = 86_400_000;

interface SecretVersion {
  id: string;
  string?: string;
  binary?: Buffer;
  stages: Set<string>;
  created: number;
}

interface Secret {
  name: string;
  arn: string;
  description?: string;
  kmsKeyId?: string;
  tags: Map<string, string>;
  versions: Map<string, SecretVersion>;
  created: number;
  changed: number;
  deletionDate?: number;
  deletedDate?: number;
  primaryRegion?: string;
  replicas: Map<string, { status: string; message?: string }>;
}

type Input = Record<string, any>;

/** One region's Secrets Manager: secrets with versions, stages and recovery windows. */
export class SecretsManagerRegion {
  private readonly secrets = new Map<string, Secret>();

  constructor(
    readonly region: string,
    private readonly regionOf: (region: string) => SecretsManagerRegion,
  ) {}

  handle(operation: string, input: Input): unknown {
    switch (operation) {
      case "CreateSecret":
        return this.create(input);
      case "GetSecretValue":
        return this.getValue(input);
      case "PutSecretValue":
        return this.putValue(input);
      case "DescribeSecret":
        return this.describe(input);
      case "UpdateSecret":
        return this.update(input);
      case "DeleteSecret":
        return this.remove(input);
      case "RestoreSecret":
        return this.restore(input);
      case "ListSecrets":
        return this.list(input);
      case "TagResource":
        return this.tag(input);
      case "ReplicateSecretToRegions":
        return this.replicate(input);
      default:
        throw new AwsError("UnknownOperationException", `Unknown operation ${operation}`, 400);
    }
  }

  /**
   * A second client's write of `value` to `name` (a fault's interleaved writer): PutSecretValue,
   * or CreateSecret where the name holds no secret, as that client's SDK call would do.
   */
  writeAsAnotherClient(name: string, value: string): void {
    if (this.secrets.has(name)) this.putValue({ SecretId: name, SecretString: value });
    else this.create({ Name: name, SecretString: value });
  }

  private create(input: Input) {
    const name = String(input.Name ?? "");
    if (!NAME.test(name))
      throw invalidParameter(
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
      );
    const existing = this.secrets.get(name);
    if (existing?.deletedDate !== undefined) {
      throw invalidRequest(
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
      );
    }
    if (existing) {
      const token = input.ClientRequestToken as string | undefined;
      const version = token ? existing.versions.get(token) : undefined;
      if (version && sameValue(version, input)) return { ARN: existing.arn, Name: name, VersionId: version.id };
      throw new AwsError("ResourceExistsException", `The operation failed because the secret ${name} already exists.`);
    }
    const now = Date.now();
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${ACCOUNT_ID}:secret:${name}-${randomBytes(3).toString("hex")}`,
      ...(input.Description !== undefined ? { description: String(input.Description) } : {}),
      ...(input.KmsKeyId !== undefined ? { kmsKeyId: String(input.KmsKeyId) } : {}),
      tags: new Map(validTags(input.Tags)),
      versions: new Map(),
      created: now,
      changed: now,
      replicas: new Map(),
    };
    const version = hasValue(input) ? this.addVersion(secret, input) : undefined;
    this.secrets.set(name, secret);
    return { ARN: secret.arn, Name: name, ...(version ? { VersionId: version.id } : {}) };
  }

  private getValue(input: Input) {
    const secret = this.live(input.SecretId);
    const version = pickVersion(secret, input.VersionId, input.VersionStage);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.binary !== undefined
        ? { SecretBinary: version.binary.toString("base64") }
        : { SecretString: version.string }),
      VersionStages: [...version.stages],
      CreatedDate: version.created / 1000,
    };
  }

  private putValue(input: Input) {
    const secret = this.live(input.SecretId);
    if (!hasValue(input)) throw invalidParameter("You must provide either SecretString or SecretBinary.");
    const token = input.ClientRequestToken as string | undefined;
    const existing = token ? secret.versions.get(token) : undefined;
    if (existing) {
      if (sameValue(existing, input))
        return { ARN: secret.arn, Name: secret.name, VersionId: existing.id, VersionStages: [...existing.stages] };
      throw new AwsError(
        "ResourceExistsException",
        "You can't modify an existing version, you can only create a new version.",
      );
    }
    const version = this.addVersion(secret, input);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private describe(input: Input) {
    const secret = this.find(input.SecretId);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      ...(secret.kmsKeyId !== undefined ? { KmsKeyId: secret.kmsKeyId } : {}),
      RotationEnabled: false,
      CreatedDate: secret.created / 1000,
      LastChangedDate: secret.changed / 1000,
      ...(secret.deletedDate !== undefined ? { DeletedDate: secret.deletedDate / 1000 } : {}),
      Tags: [...secret.tags].map(([Key, Value]) => ({ Key, Value })),
      VersionIdsToStages: Object.fromEntries(
        [...secret.versions.values()].map((version) => [version.id, [...version.stages]]),
      ),
      PrimaryRegion: secret.primaryRegion ?? this.region,
      ...(secret.replicas.size > 0
        ? {
            ReplicationStatus: [...secret.replicas].map(([Region, status]) => ({
              Region,
              Status: status.status,
              StatusMessage: status.message,
            })),
          }
        : {}),
    };
  }

  private update(input: Input) {
    const secret = this.live(input.SecretId);
    if (input.Description !== undefined) secret.description = String(input.Description);
    if (input.KmsKeyId !== undefined) secret.kmsKeyId = String(input.KmsKeyId);
    secret.changed = Date.now();
    const version = hasValue(input) ? this.addVersion(secret, input) : undefined;
    return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
  }

  private remove(input: Input) {
    const secret = this.find(input.SecretId);
    const force = input.ForceDeleteWithoutRecovery === true;
    if (force && input.RecoveryWindowInDays !== undefined) {
      throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
    }
    if (force) {
      this.secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: Date.now() / 1000 };
    }
    if (secret.deletedDate !== undefined) {
      throw invalidRequest(
        "You can't perform this operation on the secret because it was already scheduled for deletion.",
      );
    }
    const days = Number(input.RecoveryWindowInDays ?? 30);
    if (!Number.isInteger(days) || days < 7 || days > 30)
      throw invalidParameter("RecoveryWindowInDays must be between 7 and 30 days.");
    secret.deletedDate = Date.now();
    secret.deletionDate = secret.deletedDate + days * DAY_MS;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: secret.deletionDate / 1000 };
  }

  private restore(input: Input) {
    const secret = this.find(input.SecretId);
    delete secret.deletedDate;
    delete secret.deletionDate;
    return { ARN: secret.arn, Name: secret.name };
  }

  private list(input: Input) {
    const includeDeleted = input.IncludePlannedDeletion === true;
    const all = [...this.secrets.values()].filter((secret) => includeDeleted || secret.deletedDate === undefined);
    all.sort((a, b) => (a.name < b.name ? -1 : 1));
    const start = input.NextToken ? Number(Buffer.from(String(input.NextToken), "base64").toString()) : 0;
    const size = Math.min(Number(input.MaxResults ?? 100), 100);
    const page = all.slice(start, start + size);
    const next = start + size < all.length ? Buffer.from(String(start + size)).toString("base64") : undefined;
    return {
      SecretList: page.map((secret) => ({
        ARN: secret.arn,
        Name: secret.name,
        ...(secret.description !== undefined ? { Description: secret.description } : {}),
        ...(secret.deletedDate !== undefined ? { DeletedDate: secret.deletedDate / 1000 } : {}),
        Tags: [...secret.tags].map(([Key, Value]) => ({ Key, Value })),
      })),
      ...(next ? { NextToken: next } : {}),
    };
  }

  private tag(input: Input) {
    const secret = this.live(input.SecretId);
    for (const [key, value] of validTags(input.Tags)) secret.tags.set(key, value);
    return {};
  }

  private replicate(input: Input) {
    const secret = this.live(input.SecretId);
    for (const { Region: region, KmsKeyId: kmsKeyId } of (input.AddReplicaRegions ?? []) as Input[]) {
      if (typeof region !== "string" || region === this.region)
        throw invalidParameter(`Invalid replica region ${region}`);
      const target = this.regionOf(region);
      if (target.secrets.has(secret.name)) {
        secret.replicas.set(region, {
          status: "Failed",
          message: `Replication failed: Secret name already exists in region ${region}.`,
        });
        continue;
      }
      target.secrets.set(secret.name, {
        ...secret,
        arn: secret.arn.replace(`:${this.region}:`, `:${region}:`),
        ...(kmsKeyId ? { kmsKeyId } : {}),
        primaryRegion: this.region,
        versions: new Map(secret.versions),
        tags: new Map(secret.tags),
        replicas: new Map(),
      });
      secret.replicas.set(region, { status: "InSync" });
    }
    return {
      ARN: secret.arn,
      ReplicationStatus: [...secret.replicas].map(([Region, status]) => ({
        Region,
        Status: status.status,
        StatusMessage: status.message,
      })),
    };
  }

  private addVersion(secret: Secret, input: Input): SecretVersion {
    if (input.SecretString !== undefined && input.SecretBinary !== undefined) {
      throw invalidParameter(
        "You can't specify both a binary secret value and a string secret value in the same secret.",
      );
    }
    const binary = input.SecretBinary !== undefined ? Buffer.from(String(input.SecretBinary), "base64") : undefined;
    const size = binary ? binary.length : Buffer.byteLength(String(input.SecretString), "utf8");
    if (size > MAX_VALUE_BYTES) throw invalidParameter(`The secret value is larger than ${MAX_VALUE_BYTES} bytes.`);
    const token = input.ClientRequestToken as string | undefined;
    if (token !== undefined && (token.length < 32 || token.length > 64))
      throw invalidParameter("ClientRequestToken must be 32 to 64 characters.");
    // AWSCURRENT moves to the new version, the old current becomes AWSPREVIOUS, and an unlabelled version is dropped.
    for (const version of secret.versions.values()) {
      version.stages.delete("AWSPREVIOUS");
      if (version.stages.delete("AWSCURRENT")) version.stages.add("AWSPREVIOUS");
      if (version.stages.size === 0) secret.versions.delete(version.id);
    }
    const version: SecretVersion = {
      id: token ?? randomUUID(),
      ...(binary ? { binary } : { string: String(input.SecretString) }),
      stages: new Set(["AWSCURRENT"]),
      created: Date.now(),
    };
    secret.versions.set(version.id, version);
    secret.changed = version.created;
    return version;
  }

  /** A secret by name or ARN, including one scheduled for deletion; a lapsed window purges it. */
  private find(secretId: unknown): Secret {
    const id = String(secretId ?? "");
    const secret = this.secrets.get(id) ?? [...this.secrets.values()].find((candidate) => candidate.arn === id);
    if (!secret) throw notFound();
    if (secret.deletionDate !== undefined && secret.deletionDate <= Date.now()) {
      this.secrets.delete(secret.name);
      throw notFound();
    }
    return secret;
  }

  /** A secret that is not scheduled for deletion (InvalidRequestException otherwise, as AWS answers). */
  private live(secretId: unknown): Secret {
    const secret = this.find(secretId);
    if (secret.deletedDate !== undefined) {
      throw invalidRequest("You can't perform this operation on the secret because it was marked for deletion.");
    }
    return secret;
  }
}

function pickVersion(secret: Secret, versionId: unknown, stage: unknown): SecretVersion {
  if (versionId !== undefined) {
    const version = secret.versions.get(String(versionId));
    if (!version || (stage !== undefined && !version.stages.has(String(stage)))) {
      throw notFound(`Secrets Manager can't find the specified secret value for VersionId: ${String(versionId)}`);
    }
    return version;
  }
  const label = String(stage ?? "AWSCURRENT");
  const version = [...secret.versions.values()].find((candidate) => candidate.stages.has(label));
  if (!version) throw notFound(`Secrets Manager can't find the specified secret value for staging label: ${label}`);
  return version;
}

function hasValue(input: Input): boolean {
  return input.SecretString !== undefined || input.SecretBinary !== undefined;
}

function sameValue(version: SecretVersion, input: Input): boolean {
  if (input.SecretBinary !== undefined) return version.binary?.toString("base64") === input.SecretBinary;
  return version.string === input.SecretString;
}

function validTags(tags: unknown): Array<[string, string]> {
  if (tags === undefined) return [];
  if (!Array.isArray(tags)) throw invalidParameter("Tags must be a list.");
  return tags.map((tag: Input) => {
    const key = String(tag.Key ?? "");
    const value = String(tag.Value ?? "");
    if (key.length < 1 || key.length > 128 || value.length > 256) throw invalidParameter("Invalid tag key or value.");
    return [key, value];
  });
}
