import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { BackendConfig } from "../../../src/config/schema.js";
import { Backends } from "../../../src/core/backends.js";
import { Code, ServiceError } from "../../../src/core/errors.js";
import {
  mergeCallSettings,
  REDACTED,
  validateCallSettings,
  validateTeamSettingsOn,
  withStoredCredentials,
} from "../../../src/core/team-settings.js";
import type { DriverDefinition } from "../../../src/drivers/driver.js";
import { definition as awsSecretsManager } from "../../../src/providers/aws-secrets-manager/index.js";
import { definition as azureKeyVault } from "../../../src/providers/azure-key-vault/index.js";
import { LocalDriver } from "../../../src/providers/local/driver.js";
import { bedBackend } from "../../helpers/cached-driver-settings.js";
import { parseConfig } from "../../helpers/config.js";

// How team settings sent by an editor or with a call meet the stored ones: a stored credential
// (here AWS's external id) is restored, or carried into a call, only for the role it was stored
// for; and a back end's own settings shape what its teams may set (Azure's allowed vault hosts).

const ROLE = "arn:aws:iam::123456789012:role/team-owned";
const OTHER_ROLE = "arn:aws:iam::999999999999:role/attacker-owned";
const EXTERNAL_ID = "ext-id-stored-for-role";

let backends: Backends;

beforeAll(async () => {
  const template = (await parseConfig({}, {})).backends[0]!;
  // The definitions are what these functions read; the driver behind them is never called.
  const backend = (name: string, definition: DriverDefinition, settings: Record<string, unknown> = {}) =>
    bedBackend(
      {
        ...template,
        name,
        system: definition.name,
        definition,
        settings: { ...template.settings, ...settings },
      } as BackendConfig<DriverDefinition>,
      new LocalDriver(undefined as never),
      pino({ level: "silent" }),
    );
  backends = new Backends(
    [
      backend("aws", awsSecretsManager),
      backend("aws-other", awsSecretsManager),
      backend("azure", azureKeyVault, { allowed_vault_hosts: ["127.0.0.1:8443", "*.vault.corp.example"] }),
    ],
    "aws",
    [],
  );
});

function refusal(run: () => unknown): ServiceError {
  try {
    run();
  } catch (error) {
    if (error instanceof ServiceError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("withStoredCredentials", () => {
  const stored = { aws_role_name: ROLE, aws_external_id: EXTERNAL_ID, prefix: "a/", tags: { api_token_owner: "ops" } };

  it("restores what the editor left redacted while the role stays the same, whatever else changes", () => {
    const sent = {
      aws_role_name: ROLE,
      aws_external_id: REDACTED,
      prefix: "b/",
      aws_region_name: "eu-west-1",
      tags: { api_token_owner: REDACTED, team: "a" },
    };
    expect(withStoredCredentials(backends, sent, stored, "settings")).toEqual({
      ...sent,
      aws_external_id: EXTERNAL_ID,
      tags: { api_token_owner: "ops", team: "a" },
    });
  });

  it("refuses to restore it for another role, for none, or on another back end, naming the key and the change", () => {
    for (const [sent, changed] of [
      [{ aws_role_name: OTHER_ROLE, aws_external_id: REDACTED }, "aws_role_name"],
      [{ aws_external_id: REDACTED, prefix: "a/" }, "aws_role_name"],
      [{ backend: "aws-other", aws_role_name: ROLE, aws_external_id: REDACTED }, "backend"],
    ] as const) {
      const error = refusal(() => withStoredCredentials(backends, sent, stored, "settings"));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.message).toContain("settings.aws_external_id:");
      expect(error.message).toContain(`stored for another ${changed}`);
      expect(error.message).not.toContain(EXTERNAL_ID);
    }
  });

  it("refuses REDACTED where nothing is stored", () => {
    expect(
      refusal(() => withStoredCredentials(backends, { aws_external_id: REDACTED }, undefined, "settings")).message,
    ).toContain("none is stored");
  });
});

describe("a call's own team_settings", () => {
  const stored = { aws_role_name: ROLE, aws_external_id: EXTERNAL_ID, prefix: "a/" };

  it("carry the team's stored credential only while they keep its role", () => {
    expect(mergeCallSettings(backends, stored, { prefix: "inline/", aws_region_name: "eu-west-1" })).toEqual({
      ...stored,
      prefix: "inline/",
      aws_region_name: "eu-west-1",
    });
    expect(mergeCallSettings(backends, stored, { aws_role_name: OTHER_ROLE })).toEqual({
      aws_role_name: OTHER_ROLE,
      prefix: "a/",
    });
    expect(mergeCallSettings(backends, stored, { aws_role_name: OTHER_ROLE, aws_external_id: "their-own-id" })).toEqual(
      { aws_role_name: OTHER_ROLE, aws_external_id: "their-own-id", prefix: "a/" },
    );
    // Settings for another back end replace the team's.
    expect(mergeCallSettings(backends, stored, { backend: "aws-other", prefix: "o/" })).toEqual({
      backend: "aws-other",
      prefix: "o/",
    });
  });

  it("never hold REDACTED as a credential", () => {
    const error = refusal(() =>
      validateCallSettings(backends, { aws_role_name: ROLE, aws_external_id: REDACTED }, stored),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.message).toContain("team_settings.aws_external_id:");
  });
});

describe("team keys shaped by the back end's own settings", () => {
  it("lets an Azure team name a vault of Microsoft's clouds or one the operator allows, and nothing else", () => {
    for (const uri of ["https://team.vault.azure.net", "https://127.0.0.1:8443", "https://eu.vault.corp.example/"]) {
      expect(validateTeamSettingsOn(backends, { backend: "azure", vault_uri: uri }, "settings")).toEqual({
        backend: "azure",
        vault_uri: uri,
      });
    }
    for (const uri of [
      "https://127.0.0.1:8444",
      "https://127.0.0.1",
      "https://a.b.vault.corp.example",
      "https://vault.corp.example",
      "https://team.vault.azure.net:8443",
    ]) {
      const error = refusal(() => validateTeamSettingsOn(backends, { backend: "azure", vault_uri: uri }, "settings"));
      expect(error.message, uri).toContain("settings.vault_uri");
    }
  });
});
