import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/config-error.js";
import { Code } from "../../../src/core/errors.js";
import { isEmulator, parseEndpoint } from "../../../src/providers/google-common/connection.js";
import { checksumMatches, crc32c } from "../../../src/providers/google-common/crc32c.js";
import { classifyGoogleError } from "../../../src/providers/google-common/errors.js";
import { decodePayload } from "../../../src/providers/google-common/payload.js";
import { resolveKmsSettings } from "../../../src/providers/google-kms/settings.js";
import { secretResourceName } from "../../../src/providers/google-secret-manager/names.js";
import {
  resolveSecretManagerSettings,
  secretManagerCachePolicy,
  secretManagerTeamSettings,
} from "../../../src/providers/google-secret-manager/settings.js";

const settings = { store_virtual_keys: false, prefix_for_stored_virtual_keys: "litellm/" };

describe("crc32c", () => {
  it("matches the published CRC-32C check values (RFC 3720 B.4, iSCSI)", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, index) => index))).toBe(0x46dd794e);
    expect(crc32c(new Uint8Array())).toBe(0);
  });

  it("compares checksums however the SDK carries int64 (number, string, Int64Value, Long)", () => {
    const data = Buffer.from("123456789");
    for (const carried of [0xe3069283, "3808858755", { value: "3808858755" }, { low: 0xe3069283 | 0, high: 0 }]) {
      expect(checksumMatches(data, carried)).toBe(true);
    }
    expect(checksumMatches(data, 1)).toBe(false);
  });
});

describe("Google error classification", () => {
  it.each([
    [{ code: 5, message: "Secret [x] not found" }, Code.NotFound],
    [{ code: 8, message: "Quota exceeded" }, Code.ResourceExhausted],
    [{ code: 9, message: "is in DISABLED state" }, Code.FailedPrecondition],
    // The REST transport's quirk: HTTP status numbers in err.code, or only in httpStatusCode.
    [{ code: 404, message: "not found" }, Code.NotFound],
    [{ code: 409, message: "exists" }, Code.AlreadyExists],
    [{ code: 400, message: "bad" }, Code.InvalidArgument],
    [{ code: 403, message: "denied" }, Code.PermissionDenied],
    [{ code: 429, message: "slow down" }, Code.ResourceExhausted],
    [{ httpStatusCode: 503, message: "unavailable" }, Code.Unavailable],
    [{ code: "ECONNREFUSED", message: "connect ECONNREFUSED" }, Code.Unavailable],
  ])("maps %j", (fields, code) => {
    const error = Object.assign(new Error(fields.message), fields);
    const classified = classifyGoogleError(error, "google_secret_manager");
    expect(classified.code).toBe(code);
    expect(classified.message).toContain(fields.message);
  });

  it("maps missing credentials to UNAUTHENTICATED", () => {
    expect(classifyGoogleError(new Error("Could not load the default credentials."), "google_kms").code).toBe(
      Code.Unauthenticated,
    );
  });
});

describe("Google settings", () => {
  it("treats loopback endpoints as emulators and others as private endpoints", () => {
    expect(isEmulator({ transport: "grpc", endpoint: parseEndpoint("127.0.0.1:8085", "E") })).toBe(true);
    expect(isEmulator({ transport: "grpc", endpoint: parseEndpoint("localhost:8085", "E") })).toBe(true);
    expect(isEmulator({ transport: "grpc", endpoint: parseEndpoint("[::1]:8085", "E") })).toBe(true);
    expect(isEmulator({ transport: "grpc", endpoint: parseEndpoint("secretmanager.p.googleapis.com:443", "E") })).toBe(
      false,
    );
    expect(() => parseEndpoint("http://127.0.0.1:8085", "GOOGLE_SECRET_MANAGER_ENDPOINT")).toThrow(
      /GOOGLE_SECRET_MANAGER_ENDPOINT/,
    );
  });

  it("fails start-up clearly without a project, with a bad transport or a missing credential file", () => {
    expect(() => resolveSecretManagerSettings(settings, {})).toThrow(ConfigError);
    expect(() => resolveSecretManagerSettings(settings, {})).toThrow(/GOOGLE_SECRET_MANAGER_PROJECT_ID/);
    expect(() =>
      resolveSecretManagerSettings(settings, {
        GOOGLE_SECRET_MANAGER_PROJECT_ID: "p-1",
        GOOGLE_SECRET_MANAGER_TRANSPORT: "http3",
      }),
    ).toThrow(/GOOGLE_SECRET_MANAGER_TRANSPORT/);
    expect(() =>
      resolveSecretManagerSettings(settings, {
        GOOGLE_SECRET_MANAGER_PROJECT_ID: "p-1",
        GCS_PATH_SERVICE_ACCOUNT: "/nonexistent/key.json",
      }),
    ).toThrow(/GCS_PATH_SERVICE_ACCOUNT/);
  });

  it("prefers key_management_settings keys over the variables and names whichever was wrong", () => {
    const resolved = resolveSecretManagerSettings(
      { ...settings, project_id: "from-config", endpoint: "127.0.0.1:9", transport: "rest" },
      {
        GOOGLE_SECRET_MANAGER_PROJECT_ID: "from-env",
        GOOGLE_SECRET_MANAGER_ENDPOINT: "10.0.0.1:1",
        GOOGLE_SECRET_MANAGER_TRANSPORT: "grpc",
      },
    );
    expect(resolved).toMatchObject({
      project: "from-config",
      connection: { transport: "rest", endpoint: { host: "127.0.0.1", port: 9 } },
    });
    expect(() =>
      resolveSecretManagerSettings({ ...settings, endpoint: "nowhere" }, { GOOGLE_SECRET_MANAGER_PROJECT_ID: "p-1" }),
    ).toThrow(/general_settings\.key_management_settings\.endpoint/);
  });

  it("requires a CryptoKey name for google_kms", () => {
    expect(() => resolveKmsSettings({}, {})).toThrow(/GOOGLE_KMS_RESOURCE_NAME/);
    expect(() =>
      resolveKmsSettings(
        {},
        { GOOGLE_KMS_RESOURCE_NAME: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1" },
      ),
    ).toThrow(ConfigError);
    expect(
      resolveKmsSettings({}, { GOOGLE_KMS_RESOURCE_NAME: "projects/p/locations/l/keyRings/r/cryptoKeys/k" })
        .resourceName,
    ).toMatch(/cryptoKeys\/k$/);
  });

  it("reads the cache settings LiteLLM users set", () => {
    expect(secretManagerCachePolicy({})).toEqual({ ttlSeconds: 86_400, bypass: false });
    expect(
      secretManagerCachePolicy({
        GOOGLE_SECRET_MANAGER_REFRESH_INTERVAL: "60",
        GOOGLE_SECRET_MANAGER_ALWAYS_READ_SECRET_MANAGER: "True",
      }),
    ).toEqual({ ttlSeconds: 60, bypass: true });
    expect(() => secretManagerCachePolicy({ GOOGLE_SECRET_MANAGER_REFRESH_INTERVAL: "soon" })).toThrow(
      /REFRESH_INTERVAL/,
    );
  });

  it("validates team settings: project, labels as Secret Manager accepts them, replication", () => {
    expect(
      secretManagerTeamSettings.safeParse({
        project_id: "team-b",
        labels: { team: "b" },
        replication: ["us-east1"],
        prefix: "t-",
      }).success,
    ).toBe(true);
    expect(secretManagerTeamSettings.safeParse({ labels: { Team: "b" } }).success).toBe(false);
    expect(secretManagerTeamSettings.safeParse({ project_id: "a/b" }).success).toBe(false);
    expect(secretManagerTeamSettings.safeParse({ replication: [] }).success).toBe(false);
    expect(secretManagerTeamSettings.safeParse({ vault_uri: "x" }).success).toBe(false);
  });

  it("refuses secret ids outside 1–255 of A-Za-z0-9_- rather than mapping them", () => {
    expect(secretResourceName("p", "OPENAI_API_KEY")).toBe("projects/p/secrets/OPENAI_API_KEY");
    for (const name of ["litellm/key", "a.b", "x".repeat(256), "ключ"]) {
      expect(() => secretResourceName("p", name)).toThrow(/not a valid Google Secret Manager id/);
    }
  });
});

describe("payload decoding", () => {
  it("returns UTF-8 as text and anything else as bytes, never altered", () => {
    expect(decodePayload(Buffer.from("héllo"))).toEqual({ text: "héllo" });
    expect(decodePayload(Uint8Array.from([0xff, 0xfe, 0x00]))).toEqual({ binary: Uint8Array.from([0xff, 0xfe, 0x00]) });
  });
});
