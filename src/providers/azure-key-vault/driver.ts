import type { TokenCredential } from "@azure/identity";
import {
  isRestError,
  type KeyVaultSecret,
  SecretClient,
  type SecretClientOptions,
  type SecretProperties,
} from "@azure/keyvault-secrets";
import { failedPrecondition, invalidArgument, ServiceError } from "../../core/errors.js";
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
import { LocationClients } from "../../drivers/location-clients.js";
import { chooseCredential, tlsOptionsFromEnv } from "./credentials.js";
import { classifyAzureError, isSecretDisabled } from "./errors.js";
import { AzureSettingsError } from "./settings.js";
import { vaultUriProblem } from "./vault-hosts.js";
import { assertOwnedBy, callerTags, ORIGINAL_NAME_TAG, tagsToStore, toVaultName } from "./vault-names.js";

type TlsOptions = SecretClientOptions["tlsOptions"];

/** Key Vault holds strings; bytes are stored base64 under this content type and decoded on read. */
export const BINARY_CONTENT_TYPE = "application/octet-stream; encoding=base64";
export const TEXT_CONTENT_TYPE = "text/plain; charset=utf-8";

/** Key Vault's limit on a secret value (25 KB). */
export const MAX_SECRET_BYTES = 25 * 1024;
/** Bounded SDK retries: a throttling storm ends in RESOURCE_EXHAUSTED after four calls. */
const MAX_RETRIES = 3;
/** Poll interval for the delete/recover long-running operations (the first poll is immediate). */
const POLL_INTERVAL_MS = 250;

/**
 * Azure Key Vault through @azure/keyvault-secrets: the SDK's challenge authentication, a
 * TokenCredential from @azure/identity, one SecretClient per vault (the team's `vault_uri` or
 * AZURE_KEY_VAULT_URI).
 */
export class AzureKeyVaultDriver implements SecretDriver {
  /** One client per vault, for at most MAX_LOCATIONS vaults (a SecretClient holds no sockets of its own to free). */
  private readonly clients: LocationClients<SecretClient>;

  constructor(
    private readonly defaultVaultUri: string,
    private readonly credential: TokenCredential,
    private readonly tlsOptions: TlsOptions,
    options: { maxLocations?: number } = {},
  ) {
    this.clients = new LocationClients({ max: options.maxLocations });
  }

  /** Vaults holding a client now. */
  get clientCount(): number {
    return this.clients.size;
  }

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    const vaultName = toVaultName(name);
    let secret: KeyVaultSecret | undefined;
    try {
      secret = await orMissing(this.client(call).getSecret(vaultName, { abortSignal: call.signal }));
    } catch (error) {
      // The secret is there, switched off on purpose: not a miss (no fallback), not our permissions.
      if (!isSecretDisabled(error)) throw error;
      throw failedPrecondition(
        `Azure Key Vault secret ${JSON.stringify(vaultName)} (name ` +
          `${JSON.stringify(name)}) is disabled, so Key Vault refuses to read it; ` +
          `enable it or write a new version`,
      );
    }
    return secret && decode(secret);
  }

  async write(request: DriverWrite, call: DriverCall): Promise<DriverWriteResult> {
    const vaultName = toVaultName(request.name);
    const tags = tagsToStore(request.name, request.tags);
    const client = this.client(call);
    const abortSignal = call.signal;
    const binary = request.value.binary !== undefined;
    const stored = binary ? Buffer.from(request.value.binary!).toString("base64") : request.value.text!;
    const size = Buffer.byteLength(stored, "utf8");
    if (size > MAX_SECRET_BYTES) {
      throw invalidArgument(
        `value for ${JSON.stringify(request.name)} is ${size} ` +
          `bytes${binary ? " as stored (base64)" : ""}; Azure Key Vault holds at ` +
          `most ${MAX_SECRET_BYTES} bytes per secret`,
      );
    }
    const existing = await this.currentProperties(client, vaultName, abortSignal);
    if (existing) assertOwnedBy(request.name, vaultName, existing.tags);
    const set = () =>
      client.setSecret(vaultName, stored, {
        contentType: binary ? BINARY_CONTENT_TYPE : TEXT_CONTENT_TYPE,
        tags,
        abortSignal,
      });
    let version: string;
    try {
      version = versionOf(await set());
    } catch (error) {
      // Soft-deleted names answer 409 until recovered or purged: recover, then write the new version.
      if (!isRestError(error) || error.statusCode !== 409) throw error;
      await this.recover(client, request.name, vaultName, call);
      return { version: versionOf(await set()), created: false };
    }
    // Key Vault's PUT does not say whether it created the secret: it did when the name was free
    // and no other writer's version landed beside this one.
    return { version, created: !existing && (await this.isOnlyVersion(client, vaultName, version, abortSignal)) };
  }

  /**
   * The current version's tags (each version carries its own, so a write's replace the last
   * one's), without the name tag. Key Vault has no description field: none is kept.
   */
  async describe(name: string, call: DriverCall): Promise<SecretMetadata | undefined> {
    const properties = await this.currentProperties(this.client(call), toVaultName(name), call.signal);
    return properties && { tags: callerTags(properties.tags) };
  }

  async delete(name: string, options: { force: boolean }, call: DriverCall): Promise<DriverDeleteResult | undefined> {
    const vaultName = toVaultName(name);
    const client = this.client(call);
    const abortSignal = call.signal;
    let recoverable: boolean;
    try {
      const poller = await client.beginDeleteSecret(vaultName, { abortSignal, intervalInMs: POLL_INTERVAL_MS });
      const deleted = await poller.pollUntilDone({ abortSignal });
      recoverable = deleted.properties.recoveryId !== undefined;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      // Already soft-deleted: a forced delete still purges it so the name is free at once.
      if (!options.force) return undefined;
      const purged = await orMissing(client.purgeDeletedSecret(vaultName, { abortSignal }).then(() => true));
      return purged ? { recoverable: false } : undefined;
    }
    if (!options.force || !recoverable) return { recoverable };
    await client.purgeDeletedSecret(vaultName, { abortSignal });
    return { recoverable: false };
  }

  /**
   * Key Vault cannot delete one version, only switch it off: the version the write made is
   * disabled by its id (unique for ever, so never another writer's). A write that created the
   * secret made its only version, so nothing older is hidden; a newer one stays what reads return.
   * False when the version is gone (the secret deleted, or purged and made again).
   */
  async removeWrittenVersion(name: string, written: DriverWriteResult, call: DriverCall): Promise<boolean> {
    if (written.version === "") return false;
    const disabled = await orMissing(
      this.client(call).updateSecretProperties(toVaultName(name), written.version, {
        enabled: false,
        abortSignal: call.signal,
      }),
    );
    return disabled !== undefined;
  }

  async list(call: DriverCall): Promise<string[]> {
    const names: string[] = [];
    for await (const properties of this.client(call).listPropertiesOfSecrets({ abortSignal: call.signal })) {
      names.push(properties.tags?.[ORIGINAL_NAME_TAG] ?? properties.name);
    }
    return names;
  }

  locationKey(team: Readonly<Record<string, unknown>>): string {
    return vaultUriOf(team) ?? this.defaultVaultUri;
  }

  classifyError(error: unknown): ClassifiedError {
    return classifyAzureError(error);
  }

  async close(): Promise<void> {
    this.clients.close();
  }

  private client(call: DriverCall): SecretClient {
    const vaultUri = vaultUriOf(call.team) ?? this.defaultVaultUri;
    return this.clients.get(
      vaultUri,
      () =>
        new SecretClient(vaultUri, this.credential, {
          retryOptions: { maxRetries: MAX_RETRIES, retryDelayInMs: 200, maxRetryDelayInMs: 2000 },
          ...(this.tlsOptions ? { tlsOptions: this.tlsOptions } : {}),
          // A loopback vault (the emulator) cannot be a subdomain of the challenge's vault.azure.net
          // resource; real vaults keep the SDK's check that tokens go only to Key Vault hosts.
          ...(isLoopback(new URL(vaultUri).hostname) ? { disableChallengeResourceVerification: true } : {}),
        }),
    );
  }

  /**
   * The current version's properties (its tags say which name owns it, and what the caller
   * tagged it with), or undefined when the name holds no live secret. A disabled secret cannot be
   * read (403 SecretDisabled), but a write to it is allowed and adds an enabled version: its
   * properties then come from the newest of its listed versions.
   */
  private async currentProperties(
    client: SecretClient,
    vaultName: string,
    abortSignal: AbortSignal,
  ): Promise<SecretProperties | undefined> {
    try {
      return (await orMissing(client.getSecret(vaultName, { abortSignal })))?.properties;
    } catch (error) {
      if (!isSecretDisabled(error)) throw error;
    }
    let newest: SecretProperties | undefined;
    try {
      for await (const properties of client.listPropertiesOfSecretVersions(vaultName, { abortSignal })) {
        if (!newest || (properties.createdOn?.getTime() ?? 0) >= (newest.createdOn?.getTime() ?? 0))
          newest = properties;
      }
    } catch (error) {
      const { code, message } = classifyAzureError(error);
      throw new ServiceError(
        code,
        `Azure Key Vault secret ${JSON.stringify(vaultName)} is disabled, so ` +
          `secretgate lists its versions to read its tags, and that failed: ` +
          `${message}`,
      );
    }
    return newest;
  }

  /**
   * Whether `version` is the secret's one and only version. Listing needs the secrets/list
   * permission; without it (or on any failure) the answer is "cannot tell": false.
   */
  private async isOnlyVersion(
    client: SecretClient,
    vaultName: string,
    version: string,
    abortSignal: AbortSignal,
  ): Promise<boolean> {
    let seen = 0;
    try {
      for await (const page of client
        .listPropertiesOfSecretVersions(vaultName, { abortSignal })
        .byPage({ maxPageSize: 2 })) {
        for (const properties of page) if (++seen > 1 || properties.version !== version) return false;
      }
    } catch {
      return false;
    }
    return seen === 1;
  }

  private async recover(client: SecretClient, name: string, vaultName: string, call: DriverCall): Promise<void> {
    const abortSignal = call.signal;
    const deleted = await orMissing(client.getDeletedSecret(vaultName, { abortSignal }));
    // Gone meanwhile (a concurrent writer recovered it): the retried set will tell.
    if (!deleted) return;
    assertOwnedBy(name, vaultName, deleted.properties.tags);
    try {
      const poller = await client.beginRecoverDeletedSecret(vaultName, { abortSignal, intervalInMs: POLL_INTERVAL_MS });
      await poller.pollUntilDone({ abortSignal });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

function decode(secret: KeyVaultSecret): SecretValue {
  const version = versionOf(secret);
  const value = secret.value ?? "";
  if (secret.properties.contentType === BINARY_CONTENT_TYPE)
    return { binary: new Uint8Array(Buffer.from(value, "base64")), version };
  return { text: value, version };
}

const versionOf = (secret: KeyVaultSecret): string => secret.properties.version ?? "";

const isNotFound = (error: unknown): boolean => isRestError(error) && error.statusCode === 404;

async function orMissing<T>(pending: Promise<T>): Promise<T | undefined> {
  try {
    return await pending;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

function isLoopback(hostname: string): boolean {
  return (
    hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname)
  );
}

const vaultUriOf = (team: Readonly<Record<string, unknown>>): string | undefined =>
  typeof team.vault_uri === "string" ? team.vault_uri : undefined;

/** Azure Key Vault through @azure/keyvault-secrets, with the credential the environment chooses (credentials.ts). */
export async function createDriver({ env, logger }: DriverContext): Promise<SecretDriver> {
  const uri = env.AZURE_KEY_VAULT_URI;
  if (!uri)
    throw new AzureSettingsError(
      "AZURE_KEY_VAULT_URI must name the vault (https://NAME.vault.azure.net) " +
        "for key_management_system azure_key_vault",
    );
  const problem = vaultUriProblem(uri);
  if (problem) throw new AzureSettingsError(`AZURE_KEY_VAULT_URI ${problem}`);
  const tlsOptions = tlsOptionsFromEnv(env);
  const { credential, kind } = chooseCredential(env, tlsOptions);
  logger.info({ vault: uri, credential: kind }, "Azure Key Vault back end ready");
  return new AzureKeyVaultDriver(uri, credential, tlsOptions);
}
