import { Code, ServiceError } from "../../core/errors.js";
import type {
  ClassifiedError,
  DriverCall,
  DriverContext,
  DriverDeleteResult,
  DriverWrite,
  DriverWriteResult,
  SecretDriver,
  SecretValue,
} from "../../drivers/driver.js";
import { classifyConjurError } from "./errors.js";
import { ConjurHttpError, type ConjurResponse, ConjurTransport } from "./http.js";
import { listVariableNames, MAX_LIST_PAGE_BYTES } from "./listing.js";
import { declareVariablePolicy, deleteVariablePolicy } from "./policy.js";
import { ConjurSession } from "./session.js";
import { DEFAULT_POLICY_BRANCH, readConjurSettings, refreshIntervalSeconds } from "./settings.js";

type Team = Readonly<Record<string, unknown>>;

/** Where a secretgate name lives in Conjur: the account, the policy branch, and the variable id. */
interface VariableLocation {
  account: string;
  branch: string;
  /** The id relative to the branch, as declared in the branch's policy. */
  relativeId: string;
  /** The full variable id (`branch/name`, or `name` in root). */
  id: string;
}

/**
 * CyberArk Conjur over its REST API. Variables are declared by loading policy into the team's
 * branch; values are versioned by Conjur, and the version reported is Conjur's own number from
 * the variable's resource record, the value then fetched at exactly that version.
 */
export class CyberArkDriver implements SecretDriver {
  /** Writes to one variable run one at a time here, so each learns its own version number. */
  private readonly writeQueues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly transport: ConjurTransport,
    private readonly session: ConjurSession,
    private readonly defaults: { account: string; branch: string },
  ) {}

  async read(name: string, call: DriverCall): Promise<SecretValue | undefined> {
    const location = this.locate(name, call.team);
    const version = await this.latestVersion(location, call);
    if (version === undefined) return undefined;
    const response = await this.authorized(location.account, call, "GET", `${secretPath(location)}?version=${version}`);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw ConjurHttpError.from(response, "read", location.id);
    return { text: response.body.toString("utf8"), version: String(version) };
  }

  write(request: DriverWrite, call: DriverCall): Promise<DriverWriteResult> {
    const location = this.locate(request.name, call.team);
    return this.serialized(`${location.account}:${location.id}`, async () => {
      const value = request.value.text!;
      let response = await this.setValue(location, value, call);
      // An undeclared variable is one this write creates; a declared one (even without a value)
      // is policy someone else wrote.
      const undeclared = response.status === 404;
      if (undeclared) {
        await this.loadPolicy(location, "POST", declareVariablePolicy(location.relativeId), call);
        response = await this.setValue(location, value, call);
      }
      if (response.status !== 201 && response.status !== 200)
        throw ConjurHttpError.from(response, "write", location.id);
      const version = await this.latestVersion(location, call);
      if (version === undefined)
        throw new ServiceError(
          Code.Aborted,
          `Conjur variable ${JSON.stringify(location.id)} was removed while it was written`,
        );
      // Another replica may have declared it at the same time: only the first value's writer created it.
      return { version: String(version), created: undeclared && version === 1 };
    });
  }

  async delete(name: string, _options: { force: boolean }, call: DriverCall): Promise<DriverDeleteResult | undefined> {
    const location = this.locate(name, call.team);
    const exists = await this.authorized(location.account, call, "GET", resourcePath(location));
    if (exists.status === 404) return undefined;
    if (exists.status !== 200) throw ConjurHttpError.from(exists, "delete", location.id);
    // Conjur has no delete for values: removing the variable from policy removes them all.
    await this.loadPolicy(location, "PATCH", deleteVariablePolicy(location.relativeId), call);
    return { recoverable: false };
  }

  /** The variables of the team's branch that hold a value, named as read takes them (see listing.ts). */
  async list(call: DriverCall): Promise<string[]> {
    const account = accountOf(call.team) ?? this.defaults.account;
    const branch = branchOf(call.team) ?? this.defaults.branch;
    const signal = call.signal;
    return listVariableNames({
      account,
      branchPrefix: branch === "root" ? "" : `${branch}/`,
      page: (limit, offset) =>
        this.session.call(account, signal, (authorization) =>
          this.transport.send(
            `/resources/${encodeURIComponent(account)}?kind=variable&limit=${limit}&offset=${offset}`,
            {
              method: "GET",
              signal,
              headers: { Authorization: authorization },
              maxResponseBytes: MAX_LIST_PAGE_BYTES,
            },
          ),
        ),
    });
  }

  locationKey(team: Team): string {
    return JSON.stringify([accountOf(team) ?? this.defaults.account, branchOf(team) ?? this.defaults.branch]);
  }

  classifyError(error: unknown): ClassifiedError {
    return classifyConjurError(error);
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  private locate(name: string, team: Team): VariableLocation {
    const account = accountOf(team) ?? this.defaults.account;
    const branch = branchOf(team) ?? this.defaults.branch;
    return { account, branch, relativeId: name, id: branch === "root" ? name : `${branch}/${name}` };
  }

  /** The newest version number from the variable's resource; undefined when undeclared or empty. */
  private async latestVersion(location: VariableLocation, call: DriverCall): Promise<number | undefined> {
    const response = await this.authorized(location.account, call, "GET", resourcePath(location));
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw ConjurHttpError.from(response, "read", location.id);
    const resource = JSON.parse(response.body.toString("utf8")) as { secrets?: Array<{ version: number }> };
    const versions = (resource.secrets ?? []).map((secret) => secret.version);
    return versions.length === 0 ? undefined : Math.max(...versions);
  }

  private setValue(location: VariableLocation, value: string, call: DriverCall): Promise<ConjurResponse> {
    return this.authorized(location.account, call, "POST", secretPath(location), value);
  }

  private async loadPolicy(
    location: VariableLocation,
    method: "POST" | "PATCH",
    policy: string,
    call: DriverCall,
  ): Promise<void> {
    const path = `/policies/${encodeURIComponent(location.account)}/policy/${encodeURIComponent(location.branch)}`;
    const response = await this.authorized(location.account, call, method, path, policy, "application/x-yaml");
    if (response.status !== 201 && response.status !== 200) {
      throw ConjurHttpError.from(response, "policy load into", `${location.account}:policy:${location.branch}`);
    }
  }

  private authorized(
    account: string,
    call: DriverCall,
    method: "GET" | "POST" | "PATCH",
    path: string,
    body?: string,
    contentType = "text/plain",
  ): Promise<ConjurResponse> {
    const signal = call.signal;
    return this.session.call(account, signal, (authorization) =>
      this.transport.send(path, {
        method,
        signal,
        headers: { Authorization: authorization, ...(body !== undefined ? { "Content-Type": contentType } : {}) },
        ...(body !== undefined ? { body } : {}),
      }),
    );
  }

  private serialized<T>(key: string, run: () => Promise<T>): Promise<T> {
    const previous = this.writeQueues.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(run);
    this.writeQueues.set(key, next);
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.writeQueues.get(key) === next) this.writeQueues.delete(key);
      });
    return next;
  }
}

const secretPath = (location: VariableLocation) =>
  `/secrets/${encodeURIComponent(location.account)}/variable/${encodeURIComponent(location.id)}`;
const resourcePath = (location: VariableLocation) =>
  `/resources/${encodeURIComponent(location.account)}/variable/${encodeURIComponent(location.id)}`;

const accountOf = (team: Team) => (typeof team.account === "string" ? team.account : undefined);
const branchOf = (team: Team) => (typeof team.policy_branch === "string" ? team.policy_branch : undefined);

/** Conjur's REST API, logged in with the API key (or the client certificate) of CYBERARK_USERNAME. */
export async function createDriver({ env, settings, logger }: DriverContext): Promise<SecretDriver> {
  const conjur = readConjurSettings(env);
  // A malformed CYBERARK_REFRESH_INTERVAL is a start-up error, not a surprise at the first cached read.
  refreshIntervalSeconds(env);
  if (!conjur.tls.rejectUnauthorized) {
    logger.warn(
      "CYBERARK_SSL_VERIFY=false: TLS certificates of Conjur are NOT verified; " +
        "anyone on the network path can read the secrets",
    );
  }
  const transport = new ConjurTransport(conjur.baseUrl, conjur.tls);
  const branch = typeof settings.policy_branch === "string" ? settings.policy_branch : DEFAULT_POLICY_BRANCH;
  logger.info(
    { base: conjur.baseUrl.origin, account: conjur.account, branch, mutualTls: conjur.tls.cert !== undefined },
    "CyberArk Conjur back end ready",
  );
  return new CyberArkDriver(transport, new ConjurSession(transport, conjur.login, conjur.apiKey), {
    account: conjur.account,
    branch,
  });
}
