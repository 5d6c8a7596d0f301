import { type CollectionTag, isMap, isScalar, isSeq, parseDocument, type ScalarTag, type YAMLMap } from "yaml";

/** Conjur keeps this many versions of a variable's value. */
export const KEPT_VERSIONS = 20;

export class ConjurError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A login (user or host) with its API key and the policy branches it owns. */
export interface ConjurLogin {
  account: string;
  login: string;
  apiKey: string;
  /** Branches whose variables the login may read, update and declare (`root` owns everything). */
  branches: string[];
}

interface Variable {
  versions: Buffer[];
  /** Old versions dropped beyond KEPT_VERSIONS; version numbers keep counting. */
  dropped: number;
}

type PolicyStatement = { kind: "variable"; id: string } | { kind: "delete"; id: string };

/**
 * Conjur's state for the emulator: declared variables with their versioned values, per account,
 * and the permission rule the emulator enforces — a login reaches the variables of the policy
 * branches it owns (as a branch's owner does in Conjur).
 */
export class ConjurStore {
  private readonly variables = new Map<string, Variable>();
  readonly branches = new Set<string>(["root"]);
  private policyVersion = 0;

  constructor(branches: readonly string[]) {
    for (const branch of branches) this.branches.add(branch);
  }

  /** Loads policy YAML into a branch; POST may only add, PATCH may also `!delete`. */
  loadPolicy(
    account: string,
    login: ConjurLogin,
    branch: string,
    yamlText: string,
    method: string,
  ): { version: number } {
    if (!this.branches.has(branch))
      throw new ConjurError(404, "not_found", `CONJ00076E Policy ${account}:policy:${branch} not found`);
    if (!owns(login, branch)) throw new ConjurError(403, "forbidden", "Forbidden");
    const statements = parsePolicy(yamlText);
    if (method === "POST" && statements.some((statement) => statement.kind === "delete")) {
      throw new ConjurError(
        422,
        "validation_failed",
        "Deleting records is not allowed with POST (add-only); use PATCH",
      );
    }
    for (const statement of statements) {
      const key = variableKey(account, fullId(branch, statement.id));
      if (statement.kind === "variable") {
        if (!this.variables.has(key)) this.variables.set(key, { versions: [], dropped: 0 });
      } else {
        this.variables.delete(key);
      }
    }
    this.policyVersion += 1;
    return { version: this.policyVersion };
  }

  setValue(account: string, login: ConjurLogin, id: string, value: Buffer): void {
    appendValue(this.reachable(account, login, id), value);
  }

  /**
   * A second client's write (a fault's interleaved writer): its policy load declares the variable
   * where it is missing, then it adds the value.
   */
  writeAsAnotherClient(account: string, id: string, value: Buffer): void {
    const key = variableKey(account, id);
    let variable = this.variables.get(key);
    if (!variable) {
      variable = { versions: [], dropped: 0 };
      this.variables.set(key, variable);
      this.policyVersion += 1;
    }
    appendValue(variable, value);
  }

  /** The value of a version (1-based, of the kept ones) or the latest. */
  value(account: string, login: ConjurLogin, id: string, version?: number): Buffer {
    const variable = this.reachable(account, login, id);
    const index = version === undefined ? variable.versions.length - 1 : version - this.firstVersion(variable);
    const value = variable.versions[index];
    if (value === undefined) {
      throw new ConjurError(404, "not_found", `CONJ00076E Variable ${account}:variable:${id} is empty or not found.`);
    }
    return value;
  }

  /** `GET /resources/{account}/variable/{id}`: the record with its secrets' versions. */
  resource(account: string, login: ConjurLogin, id: string): unknown {
    const variable = this.reachable(account, login, id);
    const first = this.firstVersion(variable);
    const branch = this.branchOf(id);
    return {
      created_at: new Date(0).toISOString(),
      id: `${account}:variable:${id}`,
      owner: `${account}:policy:${branch}`,
      policy: `${account}:policy:${branch}`,
      permissions: [],
      annotations: [],
      secrets: variable.versions.map((_, index) => ({ version: first + index })),
    };
  }

  /**
   * The ids of the resources the login can see (`GET /resources/{account}?kind=…`), in the order
   * they were declared (Conjur orders by id only when paging). The emulator's resources are its variables.
   */
  visibleIds(account: string, login: ConjurLogin, kind: string | undefined): string[] {
    if (account !== login.account || (kind !== undefined && kind !== "variable")) return [];
    const prefix = variableKey(account, "");
    return [...this.variables.keys()]
      .filter((key) => key.startsWith(prefix) && owns(login, this.branchOf(key.slice(prefix.length))))
      .map((key) => key.slice(prefix.length));
  }

  /** The batch endpoint: all values or, on the first missing or denied id, nothing. */
  batch(login: ConjurLogin, qualifiedIds: string[]): Record<string, Buffer> {
    const result: Record<string, Buffer> = {};
    for (const qualified of qualifiedIds) {
      const match = /^([^:]+):variable:(.+)$/.exec(qualified);
      if (!match) throw new ConjurError(422, "argument_error", `Invalid variable id ${qualified}`);
      result[qualified] = this.value(match[1]!, login, match[2]!);
    }
    return result;
  }

  private reachable(account: string, login: ConjurLogin, id: string): Variable {
    if (account !== login.account || !owns(login, this.branchOf(id)))
      throw new ConjurError(403, "forbidden", "Forbidden");
    const variable = this.variables.get(variableKey(account, id));
    if (!variable)
      throw new ConjurError(404, "not_found", `CONJ00076E Variable ${account}:variable:${id} is empty or not found.`);
    return variable;
  }

  /** Versions count from 1 over the variable's life; only the last KEPT_VERSIONS are kept. */
  private firstVersion(variable: Variable): number {
    return 1 + variable.dropped;
  }

  /** The declared branch a variable id belongs to: the longest one its id lies under. */
  private branchOf(id: string): string {
    let found = "root";
    for (const branch of this.branches) {
      if (id.startsWith(`${branch}/`) && branch.length > found.length) found = branch;
    }
    return found;
  }
}

const variableKey = (account: string, id: string) => `${account}\u0000${id}`;

/** Adds a value as the newest version, dropping the oldest beyond KEPT_VERSIONS. */
function appendValue(variable: Variable, value: Buffer): void {
  variable.versions.push(value);
  if (variable.versions.length > KEPT_VERSIONS) {
    variable.versions.shift();
    variable.dropped += 1;
  }
}
const fullId = (branch: string, id: string) => (branch === "root" ? id : `${branch}/${id}`);

function owns(login: ConjurLogin, branch: string): boolean {
  return login.branches.some((owned) => owned === "root" || branch === owned || branch.startsWith(`${owned}/`));
}

/** Custom tags so the YAML parser accepts Conjur's `!variable` and `!delete` records. */
const variableScalar: ScalarTag = { tag: "!variable", resolve: (value) => ({ kind: "variable", id: value }) };
const variableMap: CollectionTag = {
  tag: "!variable",
  collection: "map",
  resolve: (map) => ({ kind: "variable", id: String((map as YAMLMap).get("id")) }),
};
const deleteMap: CollectionTag = {
  tag: "!delete",
  collection: "map",
  resolve: (map) => {
    const record = (map as YAMLMap).get("record", true) as unknown;
    const id = isScalar(record) ? record.value : record;
    return { kind: "delete", id: typeof id === "object" && id !== null ? (id as { id: string }).id : String(id) };
  },
};

function parsePolicy(text: string): PolicyStatement[] {
  const document = parseDocument(text, { customTags: [variableScalar, variableMap, deleteMap] });
  if (document.errors.length > 0)
    throw new ConjurError(422, "validation_failed", `policy is not valid YAML: ${document.errors[0]!.message}`);
  if (document.contents === null) return [];
  if (!isSeq(document.contents))
    throw new ConjurError(422, "validation_failed", "policy must be a sequence of records");
  return document.contents.items.map((item) => {
    const statement = isScalar(item) || isMap(item) ? (item.toJSON() as unknown) : undefined;
    const typed = statement as PolicyStatement | undefined;
    if (
      !typed ||
      (typed.kind !== "variable" && typed.kind !== "delete") ||
      typeof typed.id !== "string" ||
      typed.id === ""
    ) {
      throw new ConjurError(
        422,
        "validation_failed",
        `unsupported policy record ${JSON.stringify(String(item))}; the emulator knows !variable and !delete`,
      );
    }
    return typed;
  });
}
