import { Code, failedPrecondition, ServiceError } from "../../core/errors.js";
import { ConjurHttpError, type ConjurResponse } from "./http.js";

/**
 * Variables asked for per page. A Conjur configured with a lower maximum
 * (CONJUR_API_RESOURCE_LIST_LIMIT_MAX) refuses the page with 422 naming it, and is asked for that many.
 */
export const LIST_PAGE_SIZE = 100;
/** A listing reads at most this many variables, however many the login can see: bounded calls and memory. */
export const MAX_LISTED_VARIABLES = 10_000;
/** The largest resource-list page read; a larger answer is an error, not a buffer that keeps growing. */
export const MAX_LIST_PAGE_BYTES = 4 * 1024 * 1024;

const CONFIGURED_MAXIMUM = /must not exceed (\d+)/;

/** Where a listing looks: the account, and the id prefix of the branch's variables. */
export interface VariableList {
  account: string;
  /** "" for root, else `{branch}/`. */
  branchPrefix: string;
  /** `GET /resources/{account}?kind=variable&limit=…&offset=…` */
  page(limit: number, offset: number): Promise<ConjurResponse>;
}

/**
 * The names of the branch's variables that hold a value, relative to the branch, sorted: what read
 * takes. Conjur's search is a stemmed full-text match, not a prefix filter, so every variable the
 * login can see is paged through (in id order, as `limit`/`offset` make Conjur sort) and kept when
 * its id lies under the branch. A declared variable without a value reads as missing, so it is left out.
 */
export async function listVariableNames(list: VariableList): Promise<string[]> {
  const prefix = `${list.account}:variable:${list.branchPrefix}`;
  const names: string[] = [];
  let limit = LIST_PAGE_SIZE;
  for (let offset = 0; ; ) {
    const response = await list.page(limit, offset);
    const maximum = response.status === 422 ? configuredMaximum(response) : undefined;
    if (maximum !== undefined && maximum < limit) {
      limit = maximum;
      continue;
    }
    if (response.status !== 200) throw ConjurHttpError.from(response, "list of", `${list.account}:variable`);
    const resources = parsePage(response);
    offset += resources.length;
    if (offset > MAX_LISTED_VARIABLES) {
      throw failedPrecondition(
        `Conjur shows this login more than ${MAX_LISTED_VARIABLES} variables in ` +
          `${list.account}; secretgate lists at most ${MAX_LISTED_VARIABLES}`,
      );
    }
    for (const resource of resources) {
      const name = nameUnder(resource, prefix);
      if (name !== undefined) names.push(name);
    }
    if (resources.length < limit) return names.sort();
  }
}

function configuredMaximum(response: ConjurResponse): number | undefined {
  try {
    const message = (JSON.parse(response.body.toString("utf8")) as { error?: { message?: unknown } }).error?.message;
    const maximum = Number(CONFIGURED_MAXIMUM.exec(String(message))?.[1]);
    return Number.isSafeInteger(maximum) && maximum > 0 ? maximum : undefined;
  } catch {
    return undefined;
  }
}

function parsePage(response: ConjurResponse): unknown[] {
  let page: unknown;
  try {
    page = JSON.parse(response.body.toString("utf8"));
  } catch {
    page = undefined;
  }
  if (!Array.isArray(page))
    throw new ServiceError(Code.Internal, "Conjur answered the variable list with something other than a JSON array");
  return page;
}

function nameUnder(resource: unknown, prefix: string): string | undefined {
  if (typeof resource !== "object" || resource === null) return undefined;
  const { id, secrets } = resource as { id?: unknown; secrets?: unknown };
  if (typeof id !== "string" || !id.startsWith(prefix) || id.length === prefix.length) return undefined;
  return Array.isArray(secrets) && secrets.length > 0 ? id.slice(prefix.length) : undefined;
}
