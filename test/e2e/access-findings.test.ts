import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AccessBed, startAccessBed } from "../helpers/access-bed.js";
import { callFailure } from "../helpers/call-failure.js";

// The findings of issue 23, each as it was seen: an admin bound to some teams or back ends, and a
// migration run by a platform team, reached past the rules every Read/Write/Delete/Rotate holds
// to. Each test is named after its finding. The access table (access-table.test.ts) covers every
// RPC for every kind of caller; these pin the exact reproductions.

let bed: AccessBed;
const value = () => `sk-finding-${randomBytes(8).toString("hex")}`;

beforeAll(async () => {
  bed = await startAccessBed();
});
afterAll(async () => {
  await bed?.close();
});

describe("findings of issue 23", () => {
  it("TailAudit showed an admin bound to teams [team-a] and back ends [local] every record: other teams, the global location, back ends it may not use", async () => {
    const controller = new AbortController();
    const tail = bed.admin("scopedAdmin").tailAudit({}, { signal: controller.signal })[Symbol.asyncIterator]();
    // The first record the tail yields is awaited below; the calls go out once it is open.
    const first = tail.next();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const proxy = bed.secrets("proxy");
    await bed.secrets("reader").read({ names: ["OPENAI_API_KEY"] });
    await proxy.write({ name: "OUT_TEAM_B", value: value(), teamId: "team-b" });
    await proxy.write({ name: "OUT_VAULT", value: value(), teamId: "team-a", backend: "vault" });
    const marker = `IN_MARKER_${randomBytes(4).toString("hex")}`;
    await bed.secrets("teamProxy").write({ name: marker, value: value(), teamId: "team-a" });
    const seen: Array<Record<string, unknown>> = [];
    for (let next = await first; ; next = await tail.next()) {
      expect(next.done).toBe(false);
      const record = JSON.parse(next.value!.record!.json) as Record<string, unknown>;
      seen.push(record);
      if (record.name === marker) break;
      expect(seen.length).toBeLessThan(100);
    }
    controller.abort();
    for (const record of seen) {
      expect(record.teamId, JSON.stringify(record)).toBe("team-a");
      expect(JSON.stringify(record)).not.toContain("vault");
    }
    expect(seen.map((record) => record.name)).toEqual([marker]);
  });

  it("ListCallers showed a team- and back-end-bound admin every identity, with the rules of those it does not administer", async () => {
    const { callers } = await bed.admin("scopedAdmin").listCallers({});
    expect(callers.map((caller) => caller.name).sort()).toEqual(["scoped-admin", "team-proxy"]);
  });

  it("PlanMigration and MigrateSecret never asked whether a team-bound admin may act in the global location", async () => {
    await bed.secrets("admin").write({ name: "KEPT_GLOBAL", value: value() });
    const teamAdmin = bed.admin("teamAdmin");
    const plan = await callFailure(teamAdmin.planMigration({ fromBackend: "local", toBackend: "vault" }));
    expect(plan.code).toBe(Code.PermissionDenied);
    expect(plan.message).toContain("team");
    const migrate = await callFailure(
      teamAdmin.migrateSecret({ fromBackend: "local", toBackend: "vault", name: "KEPT_GLOBAL", deleteSource: true }),
    );
    expect(migrate.code).toBe(Code.PermissionDenied);
    expect((await bed.vaultGet("secret/data/KEPT_GLOBAL")).status).toBe(404);
    const [held] = (await bed.secrets("admin").read({ names: ["KEPT_GLOBAL"], backend: "local" })).results;
    expect(held?.found).toBe(true);
  });

  it("migration read its source around its access mode and hosted keys: a write_only source and names outside hosted_keys were listed and copied", async () => {
    const admin = bed.secrets("admin");
    await admin.write({ name: "MIG_HOSTED", value: value() });
    await admin.write({ name: "MIG_OTHER", value: value() });
    await admin.write({ name: "MIG_VK", value: value(), virtualKey: true });
    const operator = bed.admin("admin");
    const plan = await operator.planMigration({
      fromBackend: "local",
      toBackend: "vault",
      match: ["MIG_*", "litellm/MIG_*"],
    });
    expect(plan.names).toEqual(["MIG_HOSTED", "litellm/MIG_VK"]);
    expect(plan.leftOut.map((entry) => [entry.name, entry.reason])).toEqual([
      ["MIG_OTHER", expect.stringContaining("hosted_keys")],
    ]);
    const other = await callFailure(
      operator.migrateSecret({ fromBackend: "local", toBackend: "vault", name: "MIG_OTHER" }),
    );
    expect(other.code).toBe(Code.FailedPrecondition);
    expect(other.message).toContain("hosted_keys");
    expect((await bed.vaultGet("secret/data/MIG_OTHER")).status).toBe(404);

    await admin.write({ name: "WO_KEY", value: value(), backend: "vault-wo" });
    for (const call of [
      operator.planMigration({ fromBackend: "vault-wo", toBackend: "vault" }),
      operator.migrateSecret({ fromBackend: "vault-wo", toBackend: "vault", name: "WO_KEY" }),
    ]) {
      const refused = await callFailure(call);
      expect(refused.code).toBe(Code.FailedPrecondition);
      expect(refused.message).toContain("write_only");
    }
    expect((await bed.vaultGet("secret/data/WO_KEY")).status).toBe(404);
  });

  it("TestTeamSettings with an empty team id let a team-bound admin probe the global location", async () => {
    const refused = await callFailure(bed.admin("teamAdmin").testTeamSettings({ teamId: "", settings: {} }));
    expect(refused.code).toBe(Code.PermissionDenied);
  });

  it("GetTeamSettings showed, and SetTeamSettings{settings:{}} cleared, the settings of a team placed on a back end the admin may not use", async () => {
    const admin = bed.secrets("admin");
    await admin.setTeamSettings({ teamId: "team-v", settings: { backend: "vault", namespace: "team-ns" } });
    const local = bed.secrets("backendAdmin");
    for (const call of [
      local.getTeamSettings({ teamId: "team-v" }),
      local.setTeamSettings({ teamId: "team-v", settings: {} }),
      // Moving the team away from vault changes settings on vault too.
      local.setTeamSettings({ teamId: "team-v", settings: { prefix: "v/" } }),
    ]) {
      expect((await callFailure(call)).code).toBe(Code.PermissionDenied);
    }
    const kept = await admin.getTeamSettings({ teamId: "team-v" });
    expect(kept.configured).toBe(true);
    expect(kept.settings).toEqual({ backend: "vault", namespace: "team-ns" });
  });

  it("inline team_settings without `backend`, on a team stored on another back end, were validated there and then sent to the default back end", async () => {
    await bed
      .secrets("admin")
      .setTeamSettings({ teamId: "team-s", settings: { backend: "vault", namespace: "team-ns" } });
    const secret = value();
    const written = await bed.secrets("proxy").write({
      name: "k2",
      value: secret,
      virtualKey: true,
      teamId: "team-s",
      teamSettings: { path_prefix: "team-s-keys" },
    });
    expect(written.source).toBe("vault");
    expect(await bed.vaultGet("team-ns/secret/data/team-s-keys/litellm/k2")).toEqual({ status: 200, value: secret });
    const [read] = (
      await bed
        .secrets("proxy")
        .read({ names: ["k2"], virtualKey: true, teamId: "team-s", teamSettings: { path_prefix: "team-s-keys" } })
    ).results;
    expect(read).toMatchObject({ found: true, value: secret, source: "vault" });
    // Moving the call to another back end needs both: the back-end-bound admin may not leave vault's team for local.
    const moved = await callFailure(
      bed
        .secrets("backendAdmin")
        .write({ name: "k3", value: value(), teamId: "team-s", teamSettings: { backend: "local" } }),
    );
    expect(moved.code).toBe(Code.PermissionDenied);
    expect(moved.message).toContain("vault");
  });

  it("with hosted_keys set (the README's config), a stored virtual key read back NOT_HOSTED", async () => {
    const secret = value();
    await bed.secrets("admin").write({ name: "vk-hosted", value: secret, virtualKey: true });
    const [result] = (await bed.secrets("reader").read({ names: ["vk-hosted"], virtualKey: true })).results;
    expect(result?.error?.reason ?? "").toBe("");
    expect(result).toMatchObject({ found: true, value: secret, source: "local", resolvedName: "litellm/vk-hosted" });
  });
});
