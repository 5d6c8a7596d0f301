import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type DescService } from "@bufbuild/protobuf";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { AdminService, WhoAmIResponseSchema } from "../../../gen/secretgate/v1/admin_service_pb.js";
import { ReadResponseSchema, SecretService, type WriteRequest } from "../../../gen/secretgate/v1/secret_service_pb.js";
import { AuditLog } from "../../../src/audit.js";
import { Authenticator } from "../../../src/auth/authenticator.js";
import type { ServiceImplementation } from "../../../src/core/call-context.js";
import {
  Dispatcher,
  methodPath,
  ReadItems,
  SERVICES,
  serviceMethods,
  streamingMethods,
} from "../../../src/server/dispatcher.js";
import { memoryLogDestination } from "../../helpers/log-destination.js";

// The dispatcher reaches each service through a typed implementation of its generated descriptor
// (no handler keyed by string, no cast): a handler with the wrong request type does not compile
// (the @ts-expect-error lines below fail `npm run typecheck` the day they compile), and an
// implementation that lacks a method stops the start.

const dataDir = mkdtempSync(join(tmpdir(), "secretgate-dispatcher-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const silent = memoryLogDestination();

function dispatcherFor(
  secrets: ServiceImplementation<typeof SecretService>,
  admin: ServiceImplementation<typeof AdminService>,
): Dispatcher {
  const { authenticator } = Authenticator.create({
    settings: { tokens: [], mtls_identities: [] } as never,
    adminTokenEnv: "dispatcher-test-token",
    dataDir,
    insecureNoAuth: false,
  });
  return new Dispatcher(
    { secrets, admin },
    authenticator,
    new AuditLog({ file: undefined, stdout: silent }),
    pino({ level: "silent" }),
  );
}

/** Every method answering something of its own response type. */
function answering<S extends DescService>(service: S): ServiceImplementation<S> {
  return Object.fromEntries(
    service.methods.map((method) => [method.localName, () => create(method.output)]),
  ) as unknown as ServiceImplementation<S>;
}

describe("the dispatcher", () => {
  it("serves both services: every method of each descriptor, each at its own service's path", () => {
    expect(SERVICES.map((service) => service.typeName)).toEqual([
      "secretgate.v1.SecretService",
      "secretgate.v1.AdminService",
    ]);
    const paths = [...serviceMethods, ...streamingMethods].map(methodPath).sort();
    expect(paths).toEqual(
      [...SecretService.methods, ...AdminService.methods]
        .map((method) => `/${method.parent.typeName}/${method.name}`)
        .sort(),
    );
    expect(methodPath(AdminService.method.whoAmI)).toBe("/secretgate.v1.AdminService/WhoAmI");
    expect(serviceMethods.some((method) => method.parent === SecretService && method.name === "WhoAmI")).toBe(false);
  });

  it("calls the implementation of the method's own service, authenticated", async () => {
    const dispatcher = dispatcherFor(
      { ...answering(SecretService), read: () => create(ReadResponseSchema, { results: [] }) },
      {
        ...answering(AdminService),
        whoAmI: (_request, call) => create(WhoAmIResponseSchema, { caller: { name: call.identity.name } }),
      },
    );
    const context = {
      peer: "unit",
      protocol: "grpc" as const,
      credentials: { authorization: "Bearer dispatcher-test-token" },
    };
    const answer = await dispatcher.dispatch(AdminService.method.whoAmI, create(AdminService.method.whoAmI.input), {
      ...context,
    });
    expect(answer).toMatchObject({ caller: { name: "admin" } });
  });

  it("refuses to start with an implementation that lacks a method", () => {
    const { whoAmI: _left, ...incomplete } = answering(AdminService);
    expect(() =>
      dispatcherFor(answering(SecretService), incomplete as ServiceImplementation<typeof AdminService>),
    ).toThrow("the implementation of secretgate.v1.AdminService has no WhoAmI");
  });

  it("types each handler by its method: a wrong request or response type does not compile", () => {
    const implementation = answering(SecretService);
    // @ts-expect-error Read takes a ReadRequest, not a WriteRequest.
    const wrongRequest: ServiceImplementation<typeof SecretService>["read"] = (_request: WriteRequest) =>
      create(ReadResponseSchema);
    // @ts-expect-error Write answers a WriteResponse, not a ReadResponse.
    const wrongResponse: ServiceImplementation<typeof SecretService>["write"] = () => create(ReadResponseSchema);
    expect([wrongRequest, wrongResponse].every((handler) => typeof handler === "function")).toBe(true);
    expect(Object.keys(implementation).sort()).toEqual(SecretService.methods.map((method) => method.localName).sort());
  });
});

describe("a Read's audit items", () => {
  it("written as JSON directly, are exactly JSON.stringify of the items (every flag, outcome and name kind)", () => {
    const results = [];
    for (const stale of [false, true]) {
      for (const fallback of [false, true]) {
        for (const error of [undefined, { status: "NOT_FOUND" }]) {
          for (const [name, resolvedName] of [
            ["OPENAI_API_KEY", "litellm/OPENAI_API_KEY"],
            ['bad name\u0000"quoted"', ""],
            ["ünïcödé", ""],
          ]) {
            results.push({
              name,
              resolvedName,
              error,
              source: 'local "x"',
              version: "7\n",
              fromCache: !stale,
              stale,
              fallback,
            });
          }
        }
      }
    }
    const items = new ReadItems(results as never);
    expect(items.length).toBe(results.length);
    for (let index = 0; index < items.length; index++) {
      expect(items.json(index)).toBe(JSON.stringify(items.entry(index)));
    }
  });
});
