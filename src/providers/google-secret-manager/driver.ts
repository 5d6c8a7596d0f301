import { type protos, SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { Code, invalidArgument, notFound, ServiceError } from "../../core/errors.js";
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
import { callWithRetries } from "../google-common/calls.js";
import { clientOptions } from "../google-common/client-options.js";
import { checksumMatches, checksumValue, crc32c } from "../google-common/crc32c.js";
import { grpcStatusOf } from "../google-common/errors.js";
import { decodePayload } from "../google-common/payload.js";
import { classifySecretManagerError } from "./errors.js";
import { secretId, secretResourceName, versionNumber } from "./names.js";
import {
  labelKey,
  labelValue,
  type Replication,
  resolveSecretManagerSettings,
  type SecretManagerSettings,
  SYSTEM,
  secretManagerCachePolicy,
} from "./settings.js";

type Team = Readonly<Record<string, unknown>>;
type ISecret = protos.google.cloud.secretmanager.v1.ISecret;

/** Reads are idempotent: retried when throttled or briefly unreachable. */
const READ_RETRIES = [Code.ResourceExhausted, Code.Unavailable];
/** A write that failed UNAVAILABLE may have landed; only a refused (throttled) one is retried. */
const WRITE_RETRIES = [Code.ResourceExhausted];

/**
 * Google Secret Manager over its official SDK (gRPC by default, HTTP/1.1 JSON with
 * transport `rest`). A secret is a container of versions; a read is `versions/latest`.
 */
export class SecretManagerDriver implements SecretDriver {
  // Payloads are bytes, but nothing records whether a version was written as text; see read().
  private readonly client: SecretManagerServiceClient;

  constructor(private readonly settings: SecretManagerSettings) {
    this.client = new SecretManagerServiceClient(clientOptions(settings.connection));
  }

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    const secret = this.secretName(name, call.team);
    let response: protos.google.cloud.secretmanager.v1.IAccessSecretVersionResponse;
    try {
      [response] = await callWithRetries(call, READ_RETRIES, (options) =>
        this.client.accessSecretVersion({ name: `${secret}/versions/latest` }, options),
      );
    } catch (error) {
      const status = grpcStatusOf(error);
      if (status === Code.NotFound) return undefined;
      if (status === Code.FailedPrecondition) throw await this.unusableLatest(name, secret, call, error);
      throw error;
    }
    const data = response.payload?.data ?? new Uint8Array();
    const bytes = typeof data === "string" ? Buffer.from(data, "base64") : data;
    const checksum = response.payload?.dataCrc32c;
    if (checksumValue(checksum) !== undefined && !checksumMatches(bytes, checksum)) {
      throw new ServiceError(
        Code.DataLoss,
        `${SYSTEM}: the value of secret ${JSON.stringify(name)} (version ` +
          `${versionNumber(response.name)}) failed its CRC32C check and was ` +
          `discarded`,
      );
    }
    return { ...decodePayload(bytes), version: versionNumber(response.name) };
  }

  async write(request: DriverWrite, call: DriverCall): Promise<DriverWriteResult> {
    const parent = this.secretName(request.name, call.team);
    const data = request.value.binary ?? Buffer.from(request.value.text, "utf8");
    // Adding a version is the common case (the secret exists); creating it first only when missing saves a call.
    const addVersion = () =>
      callWithRetries(call, WRITE_RETRIES, (options) =>
        this.client.addSecretVersion({ parent, payload: { data, dataCrc32c: crc32c(data) } }, options),
      );
    try {
      const [version] = await addVersion();
      return { version: versionNumber(version.name), created: false, ...stampOf(version) };
    } catch (error) {
      if (grpcStatusOf(error) !== Code.NotFound) throw error;
    }
    const created = await this.createSecret(request, call);
    const [version] = await addVersion();
    return { version: versionNumber(version.name), created, ...stampOf(version) };
  }

  /**
   * Destroys exactly the version the write made, by name and with the etag the write got back
   * (DestroySecretVersion refuses it with ABORTED once anything changed that version, e.g. a
   * deleted secret made again with a new version 1). Only a first version: `latest` is the newest
   * version whatever its state, so destroying a later one would hide an older version of another
   * writer (one that landed between CreateSecret and AddSecretVersion) behind it.
   */
  async removeWrittenVersion(name: string, written: DriverWriteResult, call: DriverCall): Promise<boolean> {
    if (written.version !== "1" || !written.versionStamp) return false;
    const version = `${this.secretName(name, call.team)}/versions/${written.version}`;
    try {
      await callWithRetries(call, WRITE_RETRIES, (options) =>
        this.client.destroySecretVersion({ name: version, etag: written.versionStamp! }, options),
      );
      return true;
    } catch (error) {
      const status = grpcStatusOf(error);
      // Gone (NOT_FOUND), changed since (ABORTED: the etag), or destroyed already (FAILED_PRECONDITION): left as it is.
      if (status === Code.NotFound || status === Code.Aborted || status === Code.FailedPrecondition) return false;
      throw error;
    }
  }

  async delete(name: string, _options: { force: boolean }, call: DriverCall): Promise<DriverDeleteResult | undefined> {
    const secret = this.secretName(name, call.team);
    try {
      await callWithRetries(call, WRITE_RETRIES, (options) => this.client.deleteSecret({ name: secret }, options));
    } catch (error) {
      if (grpcStatusOf(error) === Code.NotFound) return undefined;
      throw error;
    }
    // Secret Manager deletes a secret and all its versions at once; there is nothing to recover.
    return { recoverable: false };
  }

  async currentVersion(name: string, call: DriverCall): Promise<string | undefined> {
    const secret = this.secretName(name, call.team);
    try {
      const [version] = await callWithRetries(call, READ_RETRIES, (options) =>
        this.client.getSecretVersion({ name: `${secret}/versions/latest` }, options),
      );
      return isEnabled(version.state) ? versionNumber(version.name) : undefined;
    } catch (error) {
      if (grpcStatusOf(error) === Code.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * The secret's labels and its `description` annotation, which the write that created it set;
   * later writes only add versions. Other annotations are not the caller's description: left out.
   */
  async describe(name: string, call: DriverCall): Promise<SecretMetadata | undefined> {
    const secret = this.secretName(name, call.team);
    let found: ISecret;
    try {
      [found] = await callWithRetries(call, READ_RETRIES, (options) =>
        this.client.getSecret({ name: secret }, options),
      );
    } catch (error) {
      if (grpcStatusOf(error) === Code.NotFound) return undefined;
      throw error;
    }
    const description = found.annotations?.description;
    return { ...(typeof description === "string" ? { description } : {}), tags: { ...found.labels } };
  }

  /**
   * Brings an existing secret's labels and `description` annotation over in place: UpdateSecret
   * with the secret's etag (a change made meanwhile fails FAILED_PRECONDITION rather than being
   * overwritten), labels and annotations it holds besides kept. No new version.
   */
  async updateMetadata(name: string, metadata: SecretMetadata, call: DriverCall): Promise<void> {
    checkLabels(metadata.tags);
    const secret = this.secretName(name, call.team);
    const [found] = await callWithRetries(call, READ_RETRIES, (options) =>
      this.client.getSecret({ name: secret }, options),
    );
    const update: ISecret = {
      name: secret,
      labels: { ...found.labels, ...metadata.tags },
      annotations: {
        ...found.annotations,
        ...(metadata.description !== undefined ? { description: metadata.description } : {}),
      },
      ...(found.etag ? { etag: found.etag } : {}),
    };
    await callWithRetries(call, WRITE_RETRIES, (options) =>
      this.client.updateSecret({ secret: update, updateMask: { paths: ["labels", "annotations"] } }, options),
    );
  }

  async list(call: DriverCall): Promise<string[]> {
    const parent = `projects/${this.project(call.team)}`;
    const [secrets] = await callWithRetries(call, READ_RETRIES, (options) =>
      this.client.listSecrets({ parent }, { ...options, autoPaginate: true }),
    );
    return secrets.map((secret) => secretId(secret.name));
  }

  locationKey(team: Team): string {
    return this.project(team);
  }

  classifyError(error: unknown): ClassifiedError {
    return classifySecretManagerError(error);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Creates the secret container; false when a concurrent writer created it first. */
  private async createSecret(request: DriverWrite, call: DriverCall): Promise<boolean> {
    const project = this.project(call.team);
    checkLabels(request.tags);
    const secret: ISecret = {
      replication: replicationPolicy((call.team.replication as Replication | undefined) ?? this.settings.replication),
      labels: request.tags,
      ...(request.description !== undefined ? { annotations: { description: request.description } } : {}),
    };
    try {
      await callWithRetries(call, WRITE_RETRIES, (options) =>
        this.client.createSecret({ parent: `projects/${project}`, secretId: request.name, secret }, options),
      );
      return true;
    } catch (error) {
      // A concurrent writer created it first: its version goes in as well.
      if (grpcStatusOf(error) !== Code.AlreadyExists) throw error;
      return false;
    }
  }

  /** Explains a FAILED_PRECONDITION on `latest`: the newest version is disabled or destroyed. */
  private async unusableLatest(name: string, secret: string, call: DriverCall, cause: unknown): Promise<ServiceError> {
    const [version] = await callWithRetries(call, READ_RETRIES, (options) =>
      this.client.getSecretVersion({ name: `${secret}/versions/latest` }, options),
    ).catch(() => [undefined]);
    if (!version)
      return notFound(
        `secret ${JSON.stringify(name)} has no readable latest version: ${classifySecretManagerError(cause).message}`,
      );
    const state = stateName(version.state).toLowerCase();
    return notFound(
      `secret ${JSON.stringify(name)} has no readable value in ${SYSTEM}: its ` +
        `latest version (${versionNumber(version.name)}) is ${state}` +
        (state === "disabled" ? "; enable it or write a new version" : "; write a new version"),
    );
  }

  private secretName(name: string, team: Team): string {
    return secretResourceName(this.project(team), name);
  }

  private project(team: Team): string {
    return (team.project_id as string | undefined) ?? this.settings.project;
  }
}

/** A version's etag, which tells it apart from a later version of the same number. */
function stampOf(version: protos.google.cloud.secretmanager.v1.ISecretVersion): { versionStamp?: string } {
  return version.etag ? { versionStamp: version.etag } : {};
}

function replicationPolicy(replication: Replication): protos.google.cloud.secretmanager.v1.IReplication {
  if (replication === "automatic") return { automatic: {} };
  return { userManaged: { replicas: replication.map((location) => ({ location })) } };
}

const STATES = ["STATE_UNSPECIFIED", "ENABLED", "DISABLED", "DESTROYED"] as const;

/** gRPC reports enum names, the REST transport (numericEnums) numbers. */
function stateName(state: unknown): string {
  return typeof state === "number" ? (STATES[state] ?? String(state)) : String(state);
}

function isEnabled(state: unknown): boolean {
  return stateName(state) === "ENABLED";
}

/** Tags become labels, whose keys and values Secret Manager restricts: INVALID_ARGUMENT naming the tag. */
function checkLabels(tags: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(tags)) {
    if (!labelKey.safeParse(key).success || !labelValue.safeParse(value).success) {
      throw invalidArgument(
        `tag ${JSON.stringify(key)} cannot be a Secret Manager label: keys start ` +
          `with a lowercase letter, and keys and values hold at most 63 lowercase ` +
          `letters, digits, '_' or '-'`,
      );
    }
  }
}

/** Google Secret Manager through @google-cloud/secret-manager (google-gax: gRPC, or REST). */
export async function createDriver({ settings, env }: DriverContext): Promise<SecretDriver> {
  secretManagerCachePolicy(env); // a malformed interval fails start-up, not the first read
  return new SecretManagerDriver(resolveSecretManagerSettings(settings, env));
}
