import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/config-error.js";
import { ServedEnvironment } from "../../../src/config/served-environment.js";
import { SYSTEMS } from "../../../src/systems.js";

/** What every back end the service knows reads of the environment, as the config hands it over. */
const systems = SYSTEMS.map((definition) => definition.credentialEnvironment);
const none = { configReferences: [], backendVariables: [], systems };
const everything = new ServedEnvironment({ serve: ["*"], ...none });

/** What a glob of `*` still never reaches: the service's own variables, in any case. */
const PROTECTED = [
  // secretgate's own settings, tokens and master key
  "SECRETGATE_ADMIN_TOKEN",
  "SECRETGATE_MASTER_KEY",
  "SECRETGATE_SOMETHING_ADDED_LATER",
  // the database
  "DATABASE_URL",
  "PGPASSWORD",
  "PGPASSFILE",
  "PGHOST",
  "PGSSLKEY",
  // AWS: keys, container, profile, shared-file, web-identity and role variables, and next year's
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_CONFIG_FILE",
  "AWS_PROFILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
  "AWS_EC2_METADATA_SERVICE_ENDPOINT",
  "AWS_A_VARIABLE_THE_SDK_ADDS_NEXT_YEAR",
  "ECS_CONTAINER_METADATA_URI_V4",
  // Azure, its managed identity endpoints and headers
  "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_CERTIFICATE_PASSWORD",
  "AZURE_KEY_VAULT_URI",
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "MSI_SECRET",
  "IMDS_ENDPOINT",
  // Google
  "GOOGLE_APPLICATION_CREDENTIALS",
  "GCS_PATH_SERVICE_ACCOUNT",
  "GOOGLE_SECRET_MANAGER_PROJECT_ID",
  "GOOGLE_KMS_RESOURCE_NAME",
  "GOOGLE_CLOUD_PROJECT",
  "GCLOUD_PROJECT",
  "GCE_METADATA_HOST",
  "CLOUDSDK_AUTH_ACCESS_TOKEN",
  // Vault and Conjur, as LiteLLM, their CLIs and SDKs name them
  "HCP_VAULT_TOKEN",
  "HCP_CLIENT_SECRET",
  "VAULT_TOKEN",
  "CYBERARK_API_KEY",
  "CONJUR_AUTHN_API_KEY",
  // telemetry exporters' headers, proxies (which may hold credentials), node's and npm's settings
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "ALL_PROXY",
  "NODE_AUTH_TOKEN",
  "NODE_OPTIONS",
  "npm_config__authToken",
  // case does not matter: process.env is case-insensitive on Windows
  "secretgate_admin_token",
  "Database_Url",
  "aws_secret_access_key",
];

const ORDINARY = [
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "GOOGLE_API_KEY",
  "MISTRAL_API_KEY",
  "LITELLM_SECRET_AWS_KMS_OPENAI_API_KEY",
  "AWSOME_KEY",
  "PAGE_SIZE",
];

describe("ServedEnvironment", () => {
  it("serves nothing by default", () => {
    const served = new ServedEnvironment({ serve: [], ...none });
    for (const name of ORDINARY) expect(served.serves(name), name).toBe(false);
  });

  it("serves exactly the names its globs match: anchored at both ends, case and metacharacters taken literally", () => {
    const served = new ServedEnvironment({ serve: ["OPENAI_*", "ANTHROPIC_API_KEY", "MODEL_?", "A.B"], ...none });
    const cases: Array<[string, boolean]> = [
      ["OPENAI_API_KEY", true],
      ["OPENAI_", true],
      ["MY_OPENAI_API_KEY", false],
      ["openai_api_key", false],
      ["ANTHROPIC_API_KEY", true],
      ["ANTHROPIC_API_KEY_2", false],
      ["XANTHROPIC_API_KEY", false],
      ["MODEL_1", true],
      ["MODEL_12", false],
      ["MODEL_", false],
      ["A.B", true],
      ["AxB", false],
    ];
    expect(cases.map(([name]) => [name, served.serves(name)])).toEqual(cases);
  });

  it.each(PROTECTED)("never serves %s, even when a glob matches it", (name) => {
    expect(everything.isProtected(name)).toBe(true);
    expect(everything.serves(name)).toBe(false);
  });

  it.each(ORDINARY)("serves the ordinary name %s when a glob matches it", (name) => {
    expect(everything.isProtected(name)).toBe(false);
    expect(everything.serves(name)).toBe(true);
  });

  it("never serves a variable the config references, nor the active back end's own variables, in any case", () => {
    const served = new ServedEnvironment({
      serve: ["*"],
      configReferences: ["TEAM_A_TOKEN"],
      backendVariables: ["CUSTOM_BACKEND_ADDR"],
      systems,
    });
    for (const name of ["TEAM_A_TOKEN", "team_a_token", "CUSTOM_BACKEND_ADDR"])
      expect(served.serves(name), name).toBe(false);
    expect(served.serves("TEAM_B_TOKEN")).toBe(true);
  });

  it("protects every known back end's variables whichever back end is active", () => {
    for (const definition of SYSTEMS) {
      for (const variable of definition.credentialEnvironment.names)
        expect(everything.isProtected(variable), `${definition.name}: ${variable}`).toBe(true);
    }
  });

  it("hands drivers the environment without the protected variables (own properties only)", () => {
    const env = Object.assign(Object.create({ INHERITED: "x" }) as Record<string, string>, {
      OPENAI_API_KEY: "ciphertext",
      SECRETGATE_ADMIN_TOKEN: "token",
      DATABASE_URL: "postgres://u:p@h/d",
    });
    expect(everything.withoutProtected(env)).toEqual({ OPENAI_API_KEY: "ciphertext" });
  });

  it("refuses to list a protected variable by its exact name, naming the entry; a glob may cover one", () => {
    const attempt = () => new ServedEnvironment({ serve: ["OPENAI_API_KEY", "DATABASE_URL"], ...none });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(
      'secretgate.environment.serve.1: "DATABASE_URL" is one of the variables secretgate uses itself',
    );
    expect(
      () =>
        new ServedEnvironment({
          serve: ["TEAM_TOKEN"],
          configReferences: ["TEAM_TOKEN"],
          backendVariables: [],
          systems,
        }),
    ).toThrow("secretgate.environment.serve.0");
    expect(() => new ServedEnvironment({ serve: ["DATABASE_*", "*"], ...none })).not.toThrow();
  });
});
