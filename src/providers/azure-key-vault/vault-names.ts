import { invalidArgument } from "../../core/errors.js";

const VAULT_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/**
 * The tag holding the secretgate name a vault secret was written under. Several names map
 * to one vault name (`A_B`, `A/B` and `A-B`; Key Vault names are case-insensitive too), so the
 * tag is how a write tells "updating my own secret" from "overwriting another name's".
 */
export const ORIGINAL_NAME_TAG = "secretgate-name";

/**
 * Key Vault allows 1–127 of `0-9a-zA-Z-`. `_` and `/` become `-`, as LiteLLM users already
 * store `AZURE_API_KEY` under `AZURE-API-KEY`; anything else is refused before any call.
 */
export function toVaultName(name: string): string {
  const mapped = name.replace(/[_/]/g, "-");
  if (!VAULT_NAME.test(mapped)) {
    throw invalidArgument(
      `name ${JSON.stringify(name)} cannot be stored in Azure Key Vault: names ` +
        `are 1 to 127 characters of letters, digits and '-' ('_' and '/' are ` +
        `mapped to '-')`,
    );
  }
  return mapped;
}

/** The tags to store for a write of `name`: the caller's, and the name tag, which a caller may not set. */
export function tagsToStore(name: string, tags: Readonly<Record<string, string>>): Record<string, string> {
  if (Object.hasOwn(tags, ORIGINAL_NAME_TAG)) {
    throw invalidArgument(
      `tags[${JSON.stringify(ORIGINAL_NAME_TAG)}] is reserved: secretgate tags ` +
        `each Azure Key Vault secret with the name it was written under`,
    );
  }
  return { ...tags, [ORIGINAL_NAME_TAG]: name };
}

/** A secret's tags as the caller wrote them: without the name tag. */
export function callerTags(tags: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(tags ?? {}).filter(
      (entry): entry is [string, string] => entry[0] !== ORIGINAL_NAME_TAG && typeof entry[1] === "string",
    ),
  );
}

/** Refuses a write that would overwrite a vault secret another secretgate name owns. */
export function assertOwnedBy(
  name: string,
  vaultName: string,
  tags: Readonly<Record<string, string>> | undefined,
): void {
  const owner = tags?.[ORIGINAL_NAME_TAG];
  if (owner !== undefined && owner !== name) {
    throw invalidArgument(
      `name ${JSON.stringify(name)} and name ${JSON.stringify(owner)} both map ` +
        `to the Azure Key Vault secret ${JSON.stringify(vaultName)}, which holds ` +
        `${JSON.stringify(owner)}; rename one of them`,
    );
  }
}
