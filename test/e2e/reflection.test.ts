import {
  create,
  createFileRegistry,
  type DescService,
  fromBinary,
  fromJson,
  type JsonValue,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ServerReflectionRequest,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { TestServer } from "../helpers/server.js";

/**
 * What grpcurl does with a server it has no .proto files for: everything it knows of the server
 * comes through the reflection stream. Both reflection versions carry the same messages on the
 * wire, so one set of types speaks to either (grpcurl converts between them the same way).
 */
class ReflectionOnlyClient {
  private readonly client: grpc.Client;

  constructor(
    address: string,
    private readonly version: "v1" | "v1alpha",
  ) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  /** One request on its own reflection stream; an error answer fails the call. */
  async ask(request: ServerReflectionRequest["messageRequest"]): Promise<ServerReflectionResponse["messageResponse"]> {
    const stream = this.client.makeBidiStreamRequest(
      `/grpc.reflection.${this.version}.ServerReflection/ServerReflectionInfo`,
      (message: ServerReflectionRequest) => Buffer.from(toBinary(ServerReflectionRequestSchema, message)),
      (bytes: Buffer) => fromBinary(ServerReflectionResponseSchema, bytes),
    );
    const answer = new Promise<ServerReflectionResponse>((resolve, reject) => {
      stream.once("data", resolve);
      stream.once("error", reject);
    });
    stream.write(create(ServerReflectionRequestSchema, { messageRequest: request }));
    stream.end();
    const { messageResponse } = await answer;
    if (messageResponse.case === "errorResponse")
      throw new Error(`reflection answered ${messageResponse.value.errorCode}: ${messageResponse.value.errorMessage}`);
    return messageResponse;
  }

  async listServices(): Promise<string[]> {
    const response = await this.ask({ case: "listServices", value: "*" });
    if (response.case !== "listServicesResponse") throw new Error(`unexpected answer ${response.case}`);
    return response.value.service.map((service) => service.name);
  }

  /** The service's descriptor, built from the file that declares it and every file that one imports. */
  async describeService(name: string): Promise<DescService> {
    const files = new Map<string, FileDescriptorProto>();
    const take = (response: ServerReflectionResponse["messageResponse"]) => {
      if (response.case !== "fileDescriptorResponse") throw new Error(`unexpected answer ${response.case}`);
      for (const bytes of response.value.fileDescriptorProto) {
        const file = fromBinary(FileDescriptorProtoSchema, bytes);
        files.set(file.name, file);
      }
    };
    take(await this.ask({ case: "fileContainingSymbol", value: name }));
    for (let missing = this.missingImports(files); missing.length > 0; missing = this.missingImports(files)) {
      for (const file of missing) take(await this.ask({ case: "fileByFilename", value: file }));
    }
    // The registry resolves each file's imports from the files before it: dependencies first.
    const ordered: FileDescriptorProto[] = [];
    const visit = (file: FileDescriptorProto) => {
      if (ordered.includes(file)) return;
      for (const dependency of file.dependency) visit(files.get(dependency)!);
      ordered.push(file);
    };
    files.forEach(visit);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
    const service = registry.getService(name);
    if (!service) throw new Error(`${name} is not in the files reflection returned`);
    return service;
  }

  /** A unary call whose request and response exist only as descriptors, with JSON in and out (grpcurl -d). */
  async call(service: DescService, methodName: string, body: JsonValue): Promise<JsonValue> {
    const method = service.methods.find((candidate) => candidate.name === methodName);
    if (method?.methodKind !== "unary") throw new Error(`${service.typeName} has no unary method ${methodName}`);
    const request = fromJson(method.input, body);
    const response = await new Promise<Buffer>((resolve, reject) =>
      this.client.makeUnaryRequest(
        `/${service.typeName}/${method.name}`,
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        Buffer.from(toBinary(method.input, request)),
        (error, bytes) => (error ? reject(error) : resolve(bytes!)),
      ),
    );
    return toJson(method.output, fromBinary(method.output, response));
  }

  private missingImports(files: ReadonlyMap<string, FileDescriptorProto>): string[] {
    return [...new Set([...files.values()].flatMap((file) => file.dependency))].filter((name) => !files.has(name));
  }
}

describe.each(["v1", "v1alpha"] as const)("server reflection %s, used as grpcurl uses it", (version) => {
  let server: TestServer;
  let reflection: ReflectionOnlyClient;
  beforeAll(async () => {
    server = await TestServer.start();
    reflection = new ReflectionOnlyClient(server.grpcAddress, version);
  });
  afterAll(async () => {
    reflection?.close();
    await server?.stop();
  });

  it("lists the API's two services (what a proxy calls, what an operator calls), health and both reflection services", async () => {
    expect((await reflection.listServices()).sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "secretgate.v1.AdminService",
      "secretgate.v1.SecretService",
    ]);
  });

  it("describes both of the API's services, each with its own methods, well enough to call them with no .proto file", async () => {
    const secrets = await reflection.describeService("secretgate.v1.SecretService");
    expect(secrets.methods.map((method) => method.name)).toEqual([
      "Read",
      "Write",
      "Delete",
      "Rotate",
      "ListHosted",
      "SetTeamSettings",
      "GetTeamSettings",
    ]);
    const admin = await reflection.describeService("secretgate.v1.AdminService");
    expect(admin.methods.map((method) => method.name)).toEqual([
      "WhoAmI",
      "ListTeams",
      "TestTeamSettings",
      "DescribeBackends",
      "GetStats",
      "ListCallers",
      "TailAudit",
      "PlanMigration",
      "MigrateSecret",
    ]);
    // Routed to AdminService (which wants a token, as every RPC does), not UNIMPLEMENTED.
    await expect(reflection.call(admin, "WhoAmI", {})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  });

  it("describes grpc.health.v1.Health well enough to call Check with no .proto file", async () => {
    const health = await reflection.describeService("grpc.health.v1.Health");
    expect(health.methods.map((method) => method.name)).toContain("Check");
    expect(await reflection.call(health, "Check", {})).toEqual({ status: "SERVING" });
    expect(await reflection.call(health, "Check", { service: "secretgate.v1.SecretService" })).toEqual({
      status: "SERVING",
    });
    expect(await reflection.call(health, "Check", { service: "secretgate.v1.AdminService" })).toEqual({
      status: "SERVING",
    });
  });

  it("describes both reflection services too", async () => {
    for (const name of ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]) {
      const service = await reflection.describeService(name);
      expect(service.methods.map((method) => [method.name, method.methodKind])).toEqual([
        ["ServerReflectionInfo", "bidi_streaming"],
      ]);
    }
  });
});
