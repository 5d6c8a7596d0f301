import { BACKEND_NAME } from "../config/schema.js";
import { invalidArgument } from "./errors.js";

/**
 * What separates a back end from a name in an explicit reference, `<backend>://<name>` (e.g.
 * `os.environ/aws-us://OPENAI_API_KEY`, for proxies that pass only strings). No name a back end
 * accepts today holds it: names never have an empty path segment, which `//` is.
 */
export const REFERENCE_SEPARATOR = "://";

/** A name addressed to one back end. */
export interface Addressed {
  backend: string;
  name: string;
}

/**
 * The back end a name is addressed to, by its reference or by the request's `backend` field
 * (`requested`, "" for none, already checked with `checkRequestedBackend`), and the name
 * without the reference; undefined for a plain name in a call that names no back end (the
 * common case, which allocates nothing). A malformed reference, an unknown back end, or a
 * reference that disagrees with `requested` is INVALID_ARGUMENT naming `field`. The name itself
 * is the caller's to validate.
 */
export function addressOf(
  name: string,
  field: string,
  requested: string,
  known: (backend: string) => boolean,
): Addressed | undefined {
  const separator = name.indexOf(REFERENCE_SEPARATOR);
  if (separator < 0) return requested === "" ? undefined : { backend: requested, name };
  const backend = name.slice(0, separator);
  const rest = name.slice(separator + REFERENCE_SEPARATOR.length);
  const shown = JSON.stringify(name);
  if (backend === "") throw invalidArgument(`${field} ${shown} is a back-end reference with no back end before "://"`);
  if (!BACKEND_NAME.test(backend))
    throw invalidArgument(`${field} ${shown} is a back-end reference whose back end is not a back-end name`);
  if (rest === "") throw invalidArgument(`${field} ${shown} is a back-end reference with no name after "://"`);
  if (rest.includes(REFERENCE_SEPARATOR))
    throw invalidArgument(`${field} ${shown} holds more than one back-end reference ("://")`);
  if (!known(backend))
    throw invalidArgument(`${field} ${shown} refers to back end ${backend}, which is not configured`);
  if (requested !== "" && requested !== backend) {
    throw invalidArgument(
      `${field} ${shown} refers to back end ${backend}, but the request's backend field names ${requested}`,
    );
  }
  return { backend, name: rest };
}

/** The request's `backend` field: empty, or a configured back end. */
export function checkRequestedBackend(requested: string, known: (backend: string) => boolean): void {
  if (requested !== "" && !known(requested)) {
    throw invalidArgument(`backend ${JSON.stringify(requested)} is not a configured back end`);
  }
}
