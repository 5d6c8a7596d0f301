import { createHash, randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";
import { startVaultTestBed, type VaultTestBed } from "../helpers/vault-test-bed.js";

// Team settings sent with the call (team_settings), on Vault, where they choose the namespace a
// secret lands in: what the emulator holds shows where each call went.
const hex = () => randomBytes(6).toString("hex");
const NS_A = `ns-a-${hex()}`;
const NS_B = `ns-b-${hex()}`;
const token = () => `tok_${randomBytes(24).toString("base64url")}`;

/** The audit digest of team settings: a SHA-256 prefix of their canonical (sorted-key) JSON. */
function canonicalDigest(settings: Record<string, unknown>): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1))));
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

describe("team_settings sent with a call (hashicorp_vault)", () => {
  let bed: VaultTestBed;
  let server: TestServer;
  const inline = token();
  const plain = token();
  const bound = token();

  const vaultGet = async (path: string): Promise<{ status: number; value?: string }> => {
    const response = await fetch(`${bed.emulator.endpoint}/v1/${path}`, {
      headers: { "x-vault-token": bed.emulator.rootToken },
    });
    if (response.status !== 200) return { status: response.status };
    const body = (await response.json()) as { data: { data: Record<string, string> } };
    return { status: 200, value: Object.values(body.data.data)[0] };
  };
  const auditRecords = () =>
    server.logLines
      .filter((line) => line.includes('"audit":true'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  beforeAll(async () => {
    const everything = ["create", "read", "update", "delete"] as const;
    bed = await startVaultTestBed({
      policies: ["secretgate", "teams"],
      config: {
        namespaces: [NS_A, NS_B],
        policies: {
          teams: [NS_A, NS_B].map((namespace) => ({ path: `${namespace}/secret/*`, capabilities: [...everything] })),
        },
      },
    });
    const proxyRules = { read: ["*"], write: ["*"], delete: ["*"], teams: ["*"] };
    server = await TestServer.start({
      config: {
        general_settings: {
          key_management_system: "hashicorp_vault",
          key_management_settings: { access_mode: "read_and_write" },
        },
        secretgate: {
          auth: {
            tokens: [
              {
                name: "proxy-inline",
                token: "os.environ/INLINE_TOKEN",
                rules: { ...proxyRules, inline_team_settings: true },
              },
              { name: "proxy-plain", token: "os.environ/PLAIN_TOKEN", rules: proxyRules },
              {
                name: "team-a-proxy",
                token: "os.environ/BOUND_TOKEN",
                rules: { ...proxyRules, teams: ["team-a"], inline_team_settings: true },
              },
            ],
          },
        },
      },
      // The cache stays on (Vault's default refresh interval): two teams' identical names must not collide in it.
      env: { ...bed.env("approle"), INLINE_TOKEN: inline, PLAIN_TOKEN: plain, BOUND_TOKEN: bound },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await bed?.close();
  });

  it("writes, reads, rotates and deletes where the call's settings point; the same name in two namespaces never collides in the cache", async () => {
    const proxy = server.client(inline);
    const valueA = `sk-a-${hex()}`;
    const valueB = `sk-b-${hex()}`;
    const name = `SHARED_${hex()}`;
    await proxy.write({ name, value: valueA, teamSettings: { namespace: NS_A } });
    await proxy.write({ name, value: valueB, teamSettings: { namespace: NS_B } });
    expect(await vaultGet(`${NS_A}/secret/data/${name}`)).toEqual({ status: 200, value: valueA });
    expect(await vaultGet(`${NS_B}/secret/data/${name}`)).toEqual({ status: 200, value: valueB });
    expect((await vaultGet(`secret/data/${name}`)).status).toBe(404);

    for (const round of [1, 2]) {
      const [a] = (await proxy.read({ names: [name], teamSettings: { namespace: NS_A } })).results;
      const [b] = (await proxy.read({ names: [name], teamSettings: { namespace: NS_B } })).results;
      const [none] = (await proxy.read({ names: [name] })).results;
      expect(a).toMatchObject({ found: true, value: valueA, fromCache: round === 2 });
      expect(b).toMatchObject({ found: true, value: valueB, fromCache: round === 2 });
      expect(none).toMatchObject({ found: false, error: { status: "NOT_FOUND" } });
    }

    const inPlace = `sk-a2-${hex()}`;
    expect(await proxy.rotate({ currentName: name, value: inPlace, teamSettings: { namespace: NS_A } })).toMatchObject({
      name,
      version: "2",
      oldDeleted: false,
    });
    expect(await vaultGet(`${NS_A}/secret/data/${name}`)).toEqual({ status: 200, value: inPlace });
    const moved = `sk-b2-${hex()}`;
    expect(
      await proxy.rotate({
        currentName: name,
        newName: `${name}_NEW`,
        value: moved,
        teamSettings: { namespace: NS_B },
      }),
    ).toMatchObject({
      name: `${name}_NEW`,
      oldDeleted: true,
    });
    expect(await vaultGet(`${NS_B}/secret/data/${name}_NEW`)).toEqual({ status: 200, value: moved });
    expect((await vaultGet(`${NS_B}/secret/data/${name}`)).status).toBe(404);
    // The rotation in B evicted B's entry only: A still reads its own (rotated) value.
    expect((await proxy.read({ names: [name], teamSettings: { namespace: NS_A } })).results[0]).toMatchObject({
      found: true,
      value: inPlace,
    });

    await proxy.delete({ name, force: true, teamSettings: { namespace: NS_A } });
    expect((await vaultGet(`${NS_A}/secret/metadata/${name}`)).status).toBe(404);
    expect(await vaultGet(`${NS_B}/secret/data/${name}_NEW`)).toEqual({ status: 200, value: moved });
  });

  it("merges the call's settings over the named team's stored ones, the call's winning for the keys it sets", async () => {
    const team = `team-m-${hex()}`;
    await server.grpc.setTeamSettings({ teamId: team, settings: { namespace: NS_A, path_prefix: "stored" } });
    const name = `MERGED_${hex()}`;
    const value = `sk-m-${hex()}`;
    await server.client(inline).write({ name, value, teamId: team, teamSettings: { path_prefix: "inline" } });
    expect(await vaultGet(`${NS_A}/secret/data/inline/${name}`)).toEqual({ status: 200, value });
    expect((await vaultGet(`${NS_A}/secret/data/stored/${name}`)).status).toBe(404);
    // The call's settings applied to that call only: the team's stored settings are unchanged.
    expect((await server.grpc.getTeamSettings({ teamId: team })).settings).toEqual({
      namespace: NS_A,
      path_prefix: "stored",
    });
    const [read] = (
      await server.client(inline).read({ names: [name], teamId: team, teamSettings: { path_prefix: "inline" } })
    ).results;
    expect(read).toMatchObject({ found: true, value });
    expect((await server.client(inline).read({ names: [name], teamId: team })).results[0]).toMatchObject({
      found: false,
    });
  });

  it("validates the call's settings like SetTeamSettings, naming the key, and writes nothing", async () => {
    const proxy = server.client(inline);
    const name = `INVALID_${hex()}`;
    const unknown = await callFailure(
      proxy.write({ name, value: "sk-invalid-1", teamSettings: { namespace: NS_A, prefix: "x/" } }),
    );
    expect(unknown.code).toBe(Code.InvalidArgument);
    expect(unknown.message).toContain('team_settings: unknown key "prefix"');
    const wrongType = await callFailure(proxy.read({ names: [name], teamSettings: { namespace: 42 } }));
    expect(wrongType.code).toBe(Code.InvalidArgument);
    expect(wrongType.message).toContain("team_settings.namespace");
    const traversal = await callFailure(proxy.delete({ name, teamSettings: { path_prefix: "../other-team" } }));
    expect(traversal).toMatchObject({ code: Code.InvalidArgument });
    expect(traversal.message).toContain("team_settings.path_prefix");
    const oversized = await callFailure(
      proxy.rotate({ currentName: name, value: "sk-invalid-2", teamSettings: { data: "x".repeat(17_000) } }),
    );
    expect(oversized.code).toBe(Code.InvalidArgument);
    expect(oversized.message).toContain("team_settings is");
    expect((await vaultGet(`${NS_A}/secret/data/${name}`)).status).toBe(404);
    expect((await vaultGet(`secret/data/${name}`)).status).toBe(404);
  });

  it("refuses LiteLLM's proxy-wide keys in a team's settings, naming them and where they belong, on a call and when stored; writes nothing", async () => {
    // An admin pasted the proxy-wide key_management_settings block into a team's settings and added the team's namespace.
    const pasted = {
      store_virtual_keys: true,
      prefix_for_stored_virtual_keys: "litellm/",
      access_mode: "write_only",
      namespace: NS_B,
    };
    const name = `PASTED_${hex()}`;
    const onCall = await callFailure(server.client(inline).write({ name, value: "sk-pasted", teamSettings: pasted }));
    expect(onCall.code).toBe(Code.InvalidArgument);
    expect(onCall.message).toContain(
      'team_settings: unknown keys "store_virtual_keys", "prefix_for_stored_virtual_keys", "access_mode"',
    );
    expect(onCall.message).toContain(
      `"store_virtual_keys", "prefix_for_stored_virtual_keys" and "access_mode" are LiteLLM's proxy-wide key_management_settings, which secretgate takes from its own configuration, never from a team's settings`,
    );
    expect((await vaultGet(`${NS_B}/secret/data/${name}`)).status).toBe(404);
    expect((await vaultGet(`secret/data/${name}`)).status).toBe(404);
    const stored = await callFailure(
      server.grpc.setTeamSettings({
        teamId: `team-p-${hex()}`,
        settings: { hosted_keys: ["OPENAI_API_KEY"], namespace: NS_B },
      }),
    );
    expect(stored.code).toBe(Code.InvalidArgument);
    expect(stored.message).toContain(
      `settings: unknown key "hosted_keys"; "hosted_keys" is one of LiteLLM's proxy-wide key_management_settings`,
    );
    // A key no one recognises keeps the plain message.
    expect(
      (await callFailure(server.client(inline).write({ name, value: "sk-pasted", teamSettings: { colour: "blue" } })))
        .message,
    ).not.toContain("LiteLLM");
  });

  it("refuses the call's settings with PERMISSION_DENIED unless the identity's rules allow inline_team_settings (admins may)", async () => {
    const name = `DENIED_${hex()}`;
    const settings = { namespace: NS_B };
    const denied = server.client(plain);
    // Started one at a time: a call started early could reject before anything awaits it.
    for (const call of [
      () => denied.read({ names: [name], teamSettings: settings }),
      () => denied.write({ name, value: "sk-denied-1", teamSettings: settings }),
      () => denied.delete({ name, teamSettings: settings }),
      () => denied.rotate({ currentName: name, value: "sk-denied-2", teamSettings: settings }),
    ]) {
      const failure = await callFailure(call());
      expect(failure.code).toBe(Code.PermissionDenied);
      expect(failure.message).toContain("proxy-plain may not send team_settings (its rules lack inline_team_settings)");
    }
    expect((await vaultGet(`${NS_B}/secret/data/${name}`)).status).toBe(404);
    // The same identity without settings, and an admin with them, are fine; an empty object is no settings.
    await denied.write({ name, value: "sk-plain-ok-1", teamSettings: {} });
    expect((await vaultGet(`secret/data/${name}`)).status).toBe(200);
    await server.grpc.write({ name, value: "sk-admin-ok-1", teamSettings: settings });
    expect((await vaultGet(`${NS_B}/secret/data/${name}`)).status).toBe(200);
  });

  it("keeps an identity bound to its teams: settings come with one of its team ids or not at all", async () => {
    const client = server.client(bound);
    const name = `BOUND_${hex()}`;
    const unnamed = await callFailure(client.write({ name, value: "sk-bound-1", teamSettings: { namespace: NS_A } }));
    expect(unnamed.code).toBe(Code.PermissionDenied);
    const other = await callFailure(
      client.write({ name, value: "sk-bound-2", teamId: "team-b", teamSettings: { namespace: NS_A } }),
    );
    expect(other.code).toBe(Code.PermissionDenied);
    await client.write({ name, value: "sk-bound-3", teamId: "team-a", teamSettings: { namespace: NS_A } });
    expect(await vaultGet(`${NS_A}/secret/data/${name}`)).toEqual({ status: 200, value: "sk-bound-3" });
  });

  it("works over Connect JSON as curl sends it", async () => {
    const name = `JSON_${hex()}`;
    const write = await server.json("Write", { name, value: "sk-json-value-1", teamSettings: { namespace: NS_B } });
    expect(write).toMatchObject({ status: 200, body: { name } });
    expect(await vaultGet(`${NS_B}/secret/data/${name}`)).toEqual({ status: 200, value: "sk-json-value-1" });
    const read = await server.json("Read", { names: [name], team_settings: { namespace: NS_B } });
    expect(read.body.results[0]).toMatchObject({ found: true, value: "sk-json-value-1" });
  });

  it("audits a digest of the settings, never the settings themselves", async () => {
    const name = `AUDITED_${hex()}`;
    const pathPrefix = `audited-${hex()}`;
    await server
      .client(inline)
      .write({ name, value: "sk-audited-1", teamSettings: { path_prefix: pathPrefix, namespace: NS_A } });
    await server.client(inline).read({ names: [name], teamSettings: { namespace: NS_A, path_prefix: pathPrefix } });
    await callFailure(
      server.client(plain).delete({ name, teamSettings: { namespace: NS_A, path_prefix: pathPrefix } }),
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    const records = auditRecords().filter(
      (record) =>
        record.name === name ||
        (Array.isArray(record.names) && record.names.includes(name)) ||
        JSON.stringify(record.items ?? []).includes(name),
    );
    expect(records.map((record) => record.method)).toEqual(["Write", "Read", "Delete"]);
    const digest = canonicalDigest({ namespace: NS_A, path_prefix: pathPrefix });
    for (const record of records) expect(record.teamSettingsDigest).toBe(digest);
    expect(records[2]!.outcome).toBe("PERMISSION_DENIED");
    expect(server.allOutput()).not.toContain(pathPrefix);
  });
});
