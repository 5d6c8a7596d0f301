import { invalidArgument } from "../../core/errors.js";

/**
 * Secret Manager secret ids are 1–255 of `A-Za-z0-9_-`. Names outside that are refused, not
 * mapped: every valid id already names itself, so any mapping of the other names onto valid
 * ids would collide with a name someone can store as is (e.g. `a/b` → `a--b`).
 */
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;

export function secretResourceName(project: string, name: string): string {
  if (!SECRET_ID.test(name)) {
    throw invalidArgument(
      `secret name ${JSON.stringify(name)} is not a valid ` +
        `Google Secret Manager id (1 to 255 letters, digits, '_' or '-')`,
    );
  }
  return `projects/${project}/secrets/${name}`;
}

/** The version number at the end of a version resource name (`…/versions/7` → `7`). */
export function versionNumber(versionName: string | null | undefined): string {
  return versionName?.slice(versionName.lastIndexOf("/") + 1) ?? "";
}

/** The secret id at the end of a secret resource name. */
export function secretId(secretName: string | null | undefined): string {
  return secretName?.slice(secretName.lastIndexOf("/") + 1) ?? "";
}
