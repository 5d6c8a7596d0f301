import type { AccessMode, KeyManagementSettings } from "../config/key-management-settings.js";
import { failedPrecondition } from "./errors.js";
import { stripEnvReference } from "./names.js";
import { PROBE_NAME } from "./reachability.js";

/**
 * Where a read is answered: the back end, or the environment (where LiteLLM reads its own
 * process environment, and secretgate answers "not hosted here" unless the operator serves the
 * name from the service's environment), and why.
 */
export type ReadRoute = { from: "backend" } | { from: "environment"; reason: string };

/**
 * The LiteLLM policy knobs, applied in one place for every back end (docs/api.md, "How a read is resolved (the same
 * for every back end)", and
 * the Write row of docs/api.md, "The RPCs"):
 * access mode, hosted keys, credential names, virtual-key prefixes, description and tags.
 */
export class Policy {
  private readonly hostedKeys: ReadonlySet<string> | undefined;
  private readonly credentialNames: ReadonlySet<string>;
  private readonly alwaysHosted: ReadonlySet<string>;

  constructor(
    readonly accessMode: AccessMode,
    private readonly settings: KeyManagementSettings,
    /** Variables holding the back end's own credentials (DriverDefinition.credentialEnvironment.names). */
    credentialNames: readonly string[],
    /** What a prefix's trailing `/` becomes on this back end (DriverDefinition.prefixSeparator). */
    private readonly prefixSeparator = "/",
    /** Names the back end serves whatever hosted_keys says (DriverDefinition.hostedWhateverHostedKeys). */
    alwaysHosted: readonly string[] = [],
  ) {
    this.hostedKeys = settings.hosted_keys ? new Set(settings.hosted_keys.map(stripEnvReference)) : undefined;
    this.credentialNames = new Set(credentialNames);
    this.alwaysHosted = new Set(alwaysHosted);
  }

  /** With hosted_keys: every name read from the back end. Without: none (the back end's list says). */
  get hostedKeyNames(): readonly string[] {
    return this.hostedKeys ? [...new Set([...this.hostedKeys, ...this.alwaysHosted])] : [];
  }

  /**
   * Where Read answers `name` (as the caller wrote it, without prefixes). `hosted_keys` governs
   * provider keys: a virtual key (`virtualKey`) is read from the back end whatever it says.
   */
  routeRead(name: string, virtualKey: boolean): ReadRoute {
    // The back end's own credential variables are never looked up in it (docs/api.md, "How a read is resolved (the
    // same for every back end)", step 2).
    if (this.credentialNames.has(name))
      return { from: "environment", reason: "it is a credential of the back end itself" };
    if (this.accessMode === "write_only") return { from: "environment", reason: "access_mode is write_only" };
    // The probe name is no one's environment variable: a client's health check reads it to reach the back end.
    if (
      !virtualKey &&
      this.hostedKeys &&
      !this.hostedKeys.has(name) &&
      !this.alwaysHosted.has(name) &&
      name !== PROBE_NAME
    )
      return { from: "environment", reason: "it is not in hosted_keys" };
    return { from: "backend" };
  }

  /**
   * Where Read answers a name as this back end stores it in the global location (a migration's
   * source names): under the virtual-key prefix it is a virtual key, anything else a provider key.
   */
  routeStored(stored: string): ReadRoute {
    const prefix = this.storedName("", true, {});
    const virtualKey = prefix !== "" && stored.length > prefix.length && stored.startsWith(prefix);
    return this.routeRead(virtualKey ? stored.slice(prefix.length) : stored, virtualKey);
  }

  /**
   * Refuses what reads every name from the back end (a migration's source) when Read would not:
   * with access_mode write_only every name is NOT_HOSTED.
   */
  requireReadable(what: string): void {
    if (this.accessMode === "write_only") {
      throw failedPrecondition(
        `${what} is refused: access_mode is write_only, so Read serves none of ` +
          `its names (set access_mode: read_and_write or read_only to allow it)`,
      );
    }
  }

  /** Refuses Write, Delete and Rotate when the configuration says reads only. */
  requireWritable(method: string): void {
    if (this.accessMode === "read_only") {
      throw failedPrecondition(
        `${method} is refused: access_mode is read_only (set access_mode: read_and_write or write_only to allow it)`,
      );
    }
  }

  /**
   * The name as stored in the back end: virtual keys get the team's `prefix` or the configured
   * one, whose trailing `/` becomes the back end's separator where names cannot hold `/`.
   */
  storedName(name: string, virtualKey: boolean, team: Readonly<Record<string, unknown>>): string {
    if (!virtualKey) return name;
    const prefix = typeof team.prefix === "string" ? team.prefix : this.settings.prefix_for_stored_virtual_keys;
    if (this.prefixSeparator !== "/" && prefix.endsWith("/"))
      return `${prefix.slice(0, -1)}${this.prefixSeparator}${name}`;
    return `${prefix}${name}`;
  }

  description(requested: string, team: Readonly<Record<string, unknown>>): string | undefined {
    if (requested !== "") return requested;
    if (typeof team.description === "string") return team.description;
    return this.settings.description;
  }

  /** Configured tags, overridden by the team's, overridden by the request's. */
  tags(requested: Readonly<Record<string, string>>, team: Readonly<Record<string, unknown>>): Record<string, string> {
    // Google calls a team's tags `labels` (docs/configuration.md, "Team settings").
    const teamTags = (team.tags ?? team.labels ?? {}) as Record<string, string>;
    return { ...(this.settings.tags ?? {}), ...teamTags, ...requested };
  }
}
