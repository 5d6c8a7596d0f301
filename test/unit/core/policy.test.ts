import { describe, expect, it } from "vitest";
import { Policy } from "../../../src/core/policy.js";
import { PROBE_NAME } from "../../../src/core/reachability.js";

const settings = { store_virtual_keys: true, prefix_for_stored_virtual_keys: "litellm/" };

describe("Policy.storedName", () => {
  it("prepends the configured prefix to virtual keys only", () => {
    const policy = new Policy("read_and_write", settings, []);
    expect(policy.storedName("virtual-key-1", true, {})).toBe("litellm/virtual-key-1");
    expect(policy.storedName("OPENAI_API_KEY", false, {})).toBe("OPENAI_API_KEY");
  });

  it("lets a team's prefix replace the configured one", () => {
    const policy = new Policy("read_and_write", settings, []);
    expect(policy.storedName("vk", true, { prefix: "team-a/" })).toBe("team-a/vk");
    expect(policy.storedName("vk", true, { prefix: "" })).toBe("vk");
  });

  it("ends a prefix with the back end's separator where names cannot hold '/'", () => {
    const policy = new Policy("read_and_write", settings, [], "-");
    expect(policy.storedName("virtual-key-1", true, {})).toBe("litellm-virtual-key-1");
    expect(policy.storedName("vk", true, { prefix: "team-a/" })).toBe("team-a-vk");
    // Only a trailing '/' is the separator: a prefix written for this back end stays as it is.
    expect(policy.storedName("vk", true, { prefix: "team_b_" })).toBe("team_b_vk");
    expect(policy.storedName("a/b", false, {})).toBe("a/b");
  });
});

describe("Policy.routeRead", () => {
  it("asks the manager for names the back end hosts whatever hosted_keys says, and only for those beyond the list", () => {
    const policy = new Policy("read_and_write", { ...settings, hosted_keys: ["OPENAI_API_KEY"] }, [], undefined, [
      "ANTHROPIC_API_KEY",
    ]);
    expect(policy.routeRead("OPENAI_API_KEY", false)).toEqual({ from: "backend" });
    expect(policy.routeRead("ANTHROPIC_API_KEY", false)).toEqual({ from: "backend" });
    expect(policy.routeRead("COHERE_API_KEY", false)).toEqual({
      from: "environment",
      reason: "it is not in hosted_keys",
    });
    expect([...policy.hostedKeyNames].sort()).toEqual(["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]);
  });

  it("reads the readiness-probe name from the manager whatever hosted_keys says, so a client's health check reaches the back end", () => {
    const policy = new Policy("read_and_write", { ...settings, hosted_keys: ["OPENAI_API_KEY"] }, []);
    expect(policy.routeRead(PROBE_NAME, false)).toEqual({ from: "backend" });
    expect(policy.hostedKeyNames).toEqual(["OPENAI_API_KEY"]);
    // Reads that are not served here at all (write_only) stay off the manager, the probe's too.
    expect(new Policy("write_only", settings, []).routeRead(PROBE_NAME, false)).toEqual({
      from: "environment",
      reason: "access_mode is write_only",
    });
  });

  it("keeps write_only reads off the manager, those names included", () => {
    const policy = new Policy("write_only", settings, [], undefined, ["ANTHROPIC_API_KEY"]);
    expect(policy.routeRead("ANTHROPIC_API_KEY", false)).toEqual({
      from: "environment",
      reason: "access_mode is write_only",
    });
  });

  it("reads a virtual key from the manager whatever hosted_keys says: it governs provider keys", () => {
    const policy = new Policy("read_and_write", { ...settings, hosted_keys: ["OPENAI_API_KEY"] }, [
      "AWS_ACCESS_KEY_ID",
    ]);
    expect(policy.routeRead("vk-1", true)).toEqual({ from: "backend" });
    expect(policy.routeRead("vk-1", false)).toEqual({ from: "environment", reason: "it is not in hosted_keys" });
    // Neither the access mode nor the back end's own credentials give way.
    expect(new Policy("write_only", settings, []).routeRead("vk-1", true)).toEqual({
      from: "environment",
      reason: "access_mode is write_only",
    });
    expect(policy.routeRead("AWS_ACCESS_KEY_ID", true).from).toBe("environment");
  });
});

describe("Policy.routeStored", () => {
  it("reads a stored name as Read would: under the virtual-key prefix a virtual key, else a provider key", () => {
    const policy = new Policy("read_and_write", { ...settings, hosted_keys: ["OPENAI_API_KEY"] }, []);
    expect(policy.routeStored("OPENAI_API_KEY")).toEqual({ from: "backend" });
    expect(policy.routeStored("COHERE_API_KEY")).toEqual({ from: "environment", reason: "it is not in hosted_keys" });
    expect(policy.routeStored(`${settings.prefix_for_stored_virtual_keys}vk-1`)).toEqual({ from: "backend" });
    // The prefix alone is no virtual key.
    expect(policy.routeStored(settings.prefix_for_stored_virtual_keys)).toEqual({
      from: "environment",
      reason: "it is not in hosted_keys",
    });
    const google = new Policy("read_and_write", { ...settings, hosted_keys: [] }, [], "-");
    expect(google.routeStored("litellm-vk-2")).toEqual({ from: "backend" });
  });
});
