import { status } from "@grpc/grpc-js";
import { crc32c } from "../../../src/providers/google-common/crc32c.js";
import { EmulatorError } from "../google-common/faults.js";

export type VersionState = "ENABLED" | "DISABLED" | "DESTROYED";

interface StoredVersion {
  number: number;
  /** Changes whenever the version does (a new state), and differs between two versions of one number. */
  etag: string;
  createTime: Date;
  state: VersionState;
  data?: Buffer;
  checksum?: number;
  destroyTime?: Date;
}

interface StoredSecret {
  name: string;
  createTime: Date;
  replication: Record<string, unknown>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  versions: StoredVersion[];
  nextVersion: number;
  /** Made at creation and anew by every update (the real API's optimistic concurrency control). */
  etag: string;
}

/** Messages as the gRPC loader hands them over (camelCase); times stay Dates until a transport formats them. */
export type Message = Record<string, any>;

const MAX_PAYLOAD_BYTES = 65_536;
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const LABEL_KEY = /^\p{Ll}[\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const LABEL_VALUE = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;
/** Annotation keys: 1–63 characters (at most 128 bytes), alphanumeric at both ends, `-`, `_`, `.` between. */
const ANNOTATION_KEY = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;
/** Keys and values of a secret's annotations together: less than 16 KiB. */
const MAX_ANNOTATIONS_BYTES = 16 * 1024;
const PROJECT = /^projects\/([^/]+)$/;
const SECRET_NAME = /^projects\/([^/]+)\/secrets\/([^/]+)$/;
const VERSION_NAME = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/;

/**
 * Secret Manager's data model and rules, shared by the gRPC and REST front ends: secrets hold
 * numbered versions; `latest` is the newest version whatever its state; disabled and destroyed
 * versions cannot be accessed (FAILED_PRECONDITION); payloads ≤ 64 KiB with optional CRC32C.
 */
export class SecretManagerStore {
  private readonly secrets = new Map<string, StoredSecret>();
  /** Accesses whose payload is corrupted in transit (one byte flipped, checksum kept). */
  corruptAccesses = 0;

  createSecret(request: Message): Message {
    const parent = String(request.parent ?? "");
    if (!PROJECT.test(parent)) throw invalid(`parent ${JSON.stringify(parent)} must be projects/*`);
    const secretId = String(request.secretId ?? "");
    if (!SECRET_ID.test(secretId))
      throw invalid(
        `Secret ID [${secretId}] must be 1 to 255 characters of letters, numbers, hyphens and underscores.`,
      );
    const secret = (request.secret ?? {}) as Message;
    const replication = secret.replication as Message | undefined;
    const replicas = replication?.userManaged?.replicas as Message[] | undefined;
    if (!replication || (!replication.automatic && !(replicas && replicas.length > 0))) {
      throw invalid("Secret.replication is required: set automatic or user_managed with at least one replica.");
    }
    const labels = validLabels(secret.labels);
    const annotations = validAnnotations(secret.annotations);
    const name = `${parent}/secrets/${secretId}`;
    if (this.secrets.has(name)) throw new EmulatorError(status.ALREADY_EXISTS, `Secret [${name}] already exists.`);
    const createTime = new Date();
    const stored: StoredSecret = {
      name,
      createTime,
      replication: replicas
        ? { userManaged: { replicas: replicas.map((replica) => ({ location: replica.location })) } }
        : { automatic: {} },
      labels,
      annotations,
      versions: [],
      nextVersion: 1,
      etag: nextEtag(),
    };
    this.secrets.set(name, stored);
    return secretView(stored);
  }

  /** A second client's write (a fault's interleaved writer): a new version, after creating the secret where missing. */
  writeAsAnotherClient(secretName: string, data: Buffer): void {
    if (!this.secrets.has(secretName)) {
      const match = /^(projects\/[^/]+)\/secrets\/(.+)$/.exec(secretName)!;
      this.createSecret({ parent: match[1], secretId: match[2], secret: { replication: { automatic: {} } } });
    }
    this.addSecretVersion({ parent: secretName, payload: { data } });
  }

  getSecret(request: Message): Message {
    return secretView(this.secret(request.name));
  }

  /**
   * UpdateSecret: the fields `update_mask` names (required) take the request secret's values. This
   * emulator models `labels` and `annotations`; another path of the real API is UNIMPLEMENTED here,
   * one the API does not have INVALID_ARGUMENT. An `etag` that is not the secret's current one
   * fails FAILED_PRECONDITION, as the real API answers; every update makes a new etag. Versions
   * are untouched.
   */
  updateSecret(request: Message): Message {
    const changes = (request.secret ?? {}) as Message;
    const secret = this.secret(changes.name);
    const paths = ((request.updateMask as Message | undefined)?.paths ?? []) as string[];
    if (paths.length === 0) throw invalid("update_mask must name at least one field to update.");
    for (const path of paths) {
      if (UPDATABLE_UNMODELLED.has(path))
        throw new EmulatorError(status.UNIMPLEMENTED, `The emulator does not model updating [${path}].`);
      if (path !== "labels" && path !== "annotations")
        throw invalid(`The update_mask path [${path}] is not a field of Secret that can be updated.`);
    }
    if (changes.etag && changes.etag !== secret.etag) {
      throw new EmulatorError(
        status.FAILED_PRECONDITION,
        `The etag provided in the request does not match the current etag of Secret [${secret.name}].`,
      );
    }
    const labels = paths.includes("labels") ? validLabels(changes.labels) : secret.labels;
    const annotations = paths.includes("annotations") ? validAnnotations(changes.annotations) : secret.annotations;
    secret.labels = labels;
    secret.annotations = annotations;
    secret.etag = nextEtag();
    return secretView(secret);
  }

  deleteSecret(request: Message): Message {
    const secret = this.secret(request.name);
    this.secrets.delete(secret.name);
    return {};
  }

  listSecrets(request: Message): Message {
    const parent = String(request.parent ?? "");
    if (!PROJECT.test(parent)) throw invalid(`parent ${JSON.stringify(parent)} must be projects/*`);
    const all = [...this.secrets.values()]
      .filter((secret) => secret.name.startsWith(`${parent}/`))
      .sort((a, b) => a.name.localeCompare(b.name));
    return page(all.map(secretView), request, "secrets");
  }

  addSecretVersion(request: Message): Message {
    const secret = this.secret(request.parent);
    const payload = (request.payload ?? {}) as Message;
    const data = Buffer.from(payload.data ?? []);
    if (data.length > MAX_PAYLOAD_BYTES)
      throw invalid(`Secret payload is ${data.length} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes.`);
    const checksum =
      payload.dataCrc32c === undefined || payload.dataCrc32c === null ? undefined : Number(payload.dataCrc32c);
    if (checksum !== undefined && checksum !== crc32c(data))
      throw invalid("Checksum mismatch: data_crc32c does not match the payload data.");
    const version: StoredVersion = {
      number: secret.nextVersion++,
      etag: nextEtag(),
      createTime: new Date(),
      state: "ENABLED",
      data,
      ...(checksum !== undefined ? { checksum } : {}),
    };
    secret.versions.push(version);
    return versionView(secret, version);
  }

  getSecretVersion(request: Message): Message {
    const { secret, version } = this.version(request.name);
    return versionView(secret, version);
  }

  listSecretVersions(request: Message): Message {
    const secret = this.secret(request.parent);
    const newestFirst = [...secret.versions].reverse().map((version) => versionView(secret, version));
    return { ...page(newestFirst, request, "versions"), totalSize: newestFirst.length };
  }

  accessSecretVersion(request: Message): Message {
    const { secret, version } = this.version(request.name);
    const name = `${secret.name}/versions/${version.number}`;
    if (version.state !== "ENABLED")
      throw new EmulatorError(status.FAILED_PRECONDITION, `Secret Version [${name}] is in ${version.state} state.`);
    let data = Buffer.from(version.data!);
    if (this.corruptAccesses > 0 && data.length > 0) {
      this.corruptAccesses -= 1;
      data = Buffer.from(data);
      data[0] = data[0]! ^ 0x01;
    }
    return { name, payload: { data, dataCrc32c: String(version.checksum ?? crc32c(version.data!)) } };
  }

  disableSecretVersion(request: Message): Message {
    return this.transition(request, "DISABLED");
  }

  enableSecretVersion(request: Message): Message {
    return this.transition(request, "ENABLED");
  }

  destroySecretVersion(request: Message): Message {
    return this.transition(request, "DESTROYED");
  }

  /** Disable, enable and destroy take an optional etag: a stale one is refused with ABORTED (AIP-154), nothing changed. */
  private transition(request: Message, state: VersionState): Message {
    const { secret, version } = this.version(request.name);
    if (request.etag && request.etag !== version.etag) {
      throw new EmulatorError(
        status.ABORTED,
        `The etag provided in the request does not match the etag of Secret Version [${secret.name}/versions/${version.number}].`,
      );
    }
    if (version.state === "DESTROYED") {
      throw new EmulatorError(
        status.FAILED_PRECONDITION,
        `Secret Version [${secret.name}/versions/${version.number}] is in DESTROYED state.`,
      );
    }
    version.state = state;
    version.etag = nextEtag();
    if (state === "DESTROYED") {
      delete version.data;
      version.destroyTime = new Date();
    }
    return versionView(secret, version);
  }

  private secret(name: unknown): StoredSecret {
    const text = String(name ?? "");
    if (!SECRET_NAME.test(text)) throw invalid(`name ${JSON.stringify(text)} must be projects/*/secrets/*`);
    const secret = this.secrets.get(text);
    if (!secret) throw new EmulatorError(status.NOT_FOUND, `Secret [${text}] not found or has no versions.`);
    return secret;
  }

  private version(name: unknown): { secret: StoredSecret; version: StoredVersion } {
    const match = VERSION_NAME.exec(String(name ?? ""));
    if (!match) throw invalid(`name ${JSON.stringify(name)} must be projects/*/secrets/*/versions/*`);
    const secret = this.secret(match[1]);
    const wanted = match[2]!;
    const version =
      wanted === "latest"
        ? secret.versions.at(-1)
        : secret.versions.find((candidate) => String(candidate.number) === wanted);
    if (!version) {
      throw new EmulatorError(
        status.NOT_FOUND,
        wanted === "latest"
          ? `Secret [${secret.name}] not found or has no versions.`
          : `Secret Version [${String(name)}] not found.`,
      );
    }
    return { secret, version };
  }
}

const invalid = (message: string) => new EmulatorError(status.INVALID_ARGUMENT, message);

/** Fields of Secret the real UpdateSecret takes that this emulator does not model. */
const UPDATABLE_UNMODELLED = new Set([
  "topics",
  "expire_time",
  "ttl",
  "rotation",
  "version_aliases",
  "version_destroy_ttl",
  "customer_managed_encryption",
]);

let lastEtag = 0;
/** A quoted hex stamp of the microsecond, as Secret Manager's etags look; never the same twice. */
function nextEtag(): string {
  lastEtag = Math.max(lastEtag + 1, Date.now() * 1000);
  return `"${lastEtag.toString(16)}"`;
}

function validLabels(value: unknown): Record<string, string> {
  const labels = (value ?? {}) as Record<string, string>;
  for (const [key, label] of Object.entries(labels)) {
    if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(label)) throw invalid(`Invalid label ${JSON.stringify(key)}.`);
  }
  return { ...labels };
}

function validAnnotations(value: unknown): Record<string, string> {
  const annotations = (value ?? {}) as Record<string, string>;
  let annotationBytes = 0;
  for (const [key, annotation] of Object.entries(annotations)) {
    if (!ANNOTATION_KEY.test(key)) throw invalid(`Invalid annotation key ${JSON.stringify(key)}.`);
    annotationBytes += Buffer.byteLength(key) + Buffer.byteLength(String(annotation));
  }
  if (annotationBytes >= MAX_ANNOTATIONS_BYTES)
    throw invalid("The total size of annotation keys and values must be less than 16KiB.");
  return { ...annotations };
}

function secretView(secret: StoredSecret): Message {
  return {
    name: secret.name,
    replication: secret.replication,
    createTime: secret.createTime,
    labels: secret.labels,
    annotations: secret.annotations,
    etag: secret.etag,
  };
}

function versionView(secret: StoredSecret, version: StoredVersion): Message {
  return {
    name: `${secret.name}/versions/${version.number}`,
    createTime: version.createTime,
    state: version.state,
    ...(version.destroyTime ? { destroyTime: version.destroyTime } : {}),
    clientSpecifiedPayloadChecksum: version.checksum !== undefined,
    etag: version.etag,
  };
}

/** Offset-based page tokens; the page size is capped at 25,000 as the real API does. */
function page(items: Message[], request: Message, field: string): Message {
  const size = Math.min(Number(request.pageSize) || 25_000, 25_000);
  const start = request.pageToken ? Number.parseInt(String(request.pageToken), 10) : 0;
  if (!Number.isInteger(start) || start < 0) throw invalid("page_token is invalid");
  const slice = items.slice(start, start + size);
  const next = start + size < items.length ? String(start + size) : "";
  return { [field]: slice, nextPageToken: next };
}
