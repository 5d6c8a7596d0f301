import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callFailure } from "../helpers/call-failure.js";
import { TestServer } from "../helpers/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await TestServer.start({});
});
afterAll(async () => {
  await server?.stop();
});

describe("names that pass for other names", () => {
  it.each([
    ["blank", "   ", "made only of white space"],
    ["a BOM", "\ufeffOPENAI_API_KEY", "U+FEFF"],
    ["a zero-width space", "OPENAI_API_KEY\u200b", "U+200B"],
    ["a word joiner", "OPENAI\u2060_API_KEY", "U+2060"],
  ])("%s: INVALID_ARGUMENT naming the field, on both ports, and nothing is stored", async (_label, name, reason) => {
    const write = await callFailure(server.grpc.write({ name, value: "sk-never-stored-1" }));
    expect(write.code).toBe(Code.InvalidArgument);
    expect(write.message).toMatch(/^name /);
    expect(write.message).toContain(reason);
    const json = await server.json("Write", { name, value: "sk-never-stored-2" });
    expect(json.status).toBe(400);
    expect(json.body).toMatchObject({ code: "invalid_argument" });
    expect(json.body.message).toContain(reason);
    const rotate = await callFailure(
      server.grpc.rotate({ currentName: "EXISTING", newName: name, value: "sk-never-stored-3" }),
    );
    expect(rotate.message).toMatch(/^new_name /);
    const { results } = await server.grpc.read({ names: ["FINE", name] });
    expect(results[1]).toMatchObject({ found: false, error: { status: "INVALID_ARGUMENT" } });
    expect(results[1]!.error!.message).toMatch(/^names\[1\] /);
    expect(await server.grpc.listHosted({})).toMatchObject({ keys: [] });
  });
});

describe("error messages on the wire", () => {
  it("escape C1 controls, U+2028 and U+2029 on both ports and in item errors", async () => {
    const name = "a\u0085b\u2028c\u2029d";
    const grpc = await callFailure(server.grpc.delete({ name }));
    const json = await server.json("Delete", { name });
    const { results } = await server.grpc.read({ names: [name] });
    for (const message of [grpc.message, json.body.message as string, results[0]!.error!.message]) {
      expect(message).toContain("a\\u0085b\\u2028c\\u2029d");
      expect(message).not.toMatch(/[\u0085\u2028\u2029]/);
    }
  });
});
