import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EmulatorHandle } from "../cli.js";
import { FaultInjector, type FaultRule, sleep } from "../common/faults.js";
import { readBody } from "../common/http.js";
import { AwsError, notFound } from "./aws-error.js";
import { Identities, type Identity, ROOT_CREDENTIALS } from "./identities.js";
import { DEFAULT_KEY_ALIAS, KmsRegion } from "./kms.js";
import { SecretsManagerRegion } from "./secrets-manager.js";
import { parseAuthorization, verifySignature } from "./sigv4.js";
import { handleSts, stsErrorXml } from "./sts.js";

export { DEFAULT_KEY_ALIAS, ROOT_CREDENTIALS };
export const DEFAULT_REGION = "us-east-1";

/** One call as the emulator saw it: tests assert on region (from the SigV4 scope) and caller. */
export interface CallRecord {
  service: "secretsmanager" | "kms" | "sts";
  operation: string;
  region: string;
  accessKeyId: string;
  principal: string;
  /** STS AssumeRole: the role asked for, and the external id sent with it (if any). */
  roleArn?: string;
  externalId?: string;
}

const JSON_TARGETS: Record<string, CallRecord["service"]> = { secretsmanager: "secretsmanager", TrentService: "kms" };
const MAX_RECORDS = 5_000;

/**
 * A loopback AWS: Secrets Manager and KMS over the JSON 1.1 protocol (X-Amz-Target), STS over the
 * query protocol (form body, XML answers), every signed call checked with SigV4. Admin endpoints:
 * POST/DELETE /__admin/faults, GET/DELETE /__admin/calls, POST /__admin/roles {roleArn, externalId},
 * DELETE /__admin/roles.
 */
export class AwsEmulator {
  readonly faults = new FaultInjector();
  readonly records: CallRecord[] = [];
  private readonly identities = new Identities();
  private readonly secrets = new Map<string, SecretsManagerRegion>();
  private readonly kms = new Map<string, KmsRegion>();
  private readonly externalIds = new Map<string, string>();

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    const path = request.url ?? "/";
    if (path.startsWith("/__admin/")) return this.admin(request.method ?? "GET", path, body, response);
    const target = request.headers["x-amz-target"]?.toString();
    if (target) return this.handleJson(request, path, target, body, response);
    return this.handleQuery(request, path, body, response);
  }

  private async handleJson(
    request: IncomingMessage,
    path: string,
    target: string,
    body: Buffer,
    response: ServerResponse,
  ): Promise<void> {
    const [prefix = "", operation = ""] = target.split(".");
    const service = JSON_TARGETS[prefix];
    const send = (status: number, payload: unknown) => {
      response.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
      response.end(JSON.stringify(payload));
    };
    const sendError = (error: AwsError) => send(error.status, { __type: error.type, message: error.message });
    try {
      if (!service) throw new AwsError("UnknownOperationException", `Unknown target ${target}`);
      if (!request.headers["content-type"]?.startsWith("application/x-amz-json-1.1")) {
        throw new AwsError("SerializationException", "Content-Type must be application/x-amz-json-1.1");
      }
      let input: Record<string, unknown> | undefined;
      try {
        input = body.length === 0 ? {} : (JSON.parse(body.toString("utf8")) as Record<string, unknown>);
      } catch {
        input = undefined;
      }
      if (
        !(await this.applyFault(
          operation,
          request,
          service === "kms" ? "KMSInternalException" : "InternalServiceError",
          undefined,
          targetOf(input),
          service,
        ))
      )
        return;
      const caller = this.authenticate(request, path, body, service, "UnrecognizedClientException");
      if (input === undefined) throw new AwsError("SerializationException", "Request body is not valid JSON");
      this.record(service, operation, caller);
      const output =
        service === "kms"
          ? this.kmsRegion(caller.region).handle(operation, input)
          : this.secretsRegion(caller.region).handle(operation, input);
      send(200, output);
    } catch (error) {
      sendError(error instanceof AwsError ? error : new AwsError("InternalFailure", (error as Error).message, 500));
    }
  }

  private async handleQuery(
    request: IncomingMessage,
    path: string,
    body: Buffer,
    response: ServerResponse,
  ): Promise<void> {
    const params = new URLSearchParams(body.toString("utf8"));
    const action = params.get("Action") ?? "";
    const send = (status: number, xml: string) => {
      response.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() });
      response.end(xml);
    };
    try {
      if (!(await this.applyFault(action, request, "InternalFailure", "Throttling"))) return;
      // AssumeRoleWithWebIdentity is the one unsigned call: the token is the credential.
      const caller =
        action === "AssumeRoleWithWebIdentity"
          ? undefined
          : this.authenticate(request, path, body, "sts", "InvalidClientTokenId");
      this.record(
        "sts",
        action,
        caller ?? { region: DEFAULT_REGION, accessKeyId: "", principal: "web-identity" },
        assumeRoleDetail(action, params),
      );
      send(200, handleSts(action, params, caller, { identities: this.identities, externalIds: this.externalIds }));
    } catch (error) {
      const failure =
        error instanceof AwsError ? error : new AwsError("InternalFailure", (error as Error).message, 500);
      send(failure.status, stsErrorXml(failure));
    }
  }

  /** Applies an injected fault; false when the connection was dropped and nothing more is sent. */
  private async applyFault(
    operation: string,
    request: IncomingMessage,
    serverErrorType: string,
    throttleType = "ThrottlingException",
    target?: string,
    service?: CallRecord["service"],
  ): Promise<boolean> {
    const fault = this.faults.next(operation, target);
    if (!fault) return true;
    if (fault.interleave && target !== undefined && service === "secretsmanager") {
      this.secretsRegion(parseAuthorization(request.headers).region).writeAsAnotherClient(
        target,
        fault.interleave.value,
      );
    }
    if (fault.latencyMs) await sleep(fault.latencyMs);
    switch (fault.kind) {
      case "latency":
        return true;
      case "hold":
        await fault.released;
        return true;
      case "drop":
        request.socket.destroy();
        return false;
      case "throttle":
        throw new AwsError(throttleType, "Rate exceeded", 400);
      case "error":
        throw new AwsError(
          fault.status === 503 ? "ServiceUnavailable" : serverErrorType,
          "injected server error",
          fault.status ?? 500,
        );
      case "lag":
        // A read served where the target's latest writes have not arrived yet: Secrets Manager's own "not found".
        throw notFound();
    }
  }

  private authenticate(
    request: IncomingMessage,
    path: string,
    body: Buffer,
    service: string,
    invalidTokenType: string,
  ): Identity & { region: string } {
    const parsed = parseAuthorization(request.headers);
    if (parsed.service !== service) {
      throw new AwsError(
        "InvalidSignatureException",
        `Credential should be scoped to correct service: '${service}'.`,
        403,
      );
    }
    const identity = this.identities.authenticate(
      parsed.accessKeyId,
      request.headers["x-amz-security-token"]?.toString(),
      invalidTokenType,
    );
    verifySignature(
      { method: request.method ?? "POST", path, headers: request.headers, body },
      parsed,
      identity.secretAccessKey,
    );
    return { ...identity, region: parsed.region };
  }

  private record(
    service: CallRecord["service"],
    operation: string,
    caller: { region: string; accessKeyId: string; principal: string },
    detail: Pick<CallRecord, "roleArn" | "externalId"> = {},
  ): void {
    if (this.records.length >= MAX_RECORDS) this.records.shift();
    this.records.push({
      service,
      operation,
      region: caller.region,
      accessKeyId: caller.accessKeyId,
      principal: caller.principal,
      ...detail,
    });
  }

  private secretsRegion(region: string): SecretsManagerRegion {
    let state = this.secrets.get(region);
    if (!state) {
      state = new SecretsManagerRegion(region, (other) => this.secretsRegion(other));
      this.secrets.set(region, state);
    }
    return state;
  }

  private kmsRegion(region: string): KmsRegion {
    let state = this.kms.get(region);
    if (!state) {
      state = new KmsRegion(region);
      this.kms.set(region, state);
    }
    return state;
  }

  private admin(method: string, path: string, body: Buffer, response: ServerResponse): void {
    const reply = (status: number, payload: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(payload));
    };
    const input = body.length > 0 ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : {};
    const route = `${method} ${path.split("?")[0]}`;
    switch (route) {
      case "POST /__admin/faults":
        this.faults.set((Array.isArray(input) ? input : (input.rules as FaultRule[] | undefined)) ?? []);
        return reply(200, { ok: true });
      case "DELETE /__admin/faults":
        this.faults.clear();
        return reply(200, { ok: true });
      case "GET /__admin/calls":
        return reply(200, { counts: this.faults.calls(), calls: this.records });
      case "DELETE /__admin/calls":
        this.faults.resetCalls();
        this.records.length = 0;
        return reply(200, { ok: true });
      case "POST /__admin/roles":
        this.externalIds.set(String(input.roleArn), String(input.externalId));
        return reply(200, { ok: true });
      case "DELETE /__admin/roles":
        this.externalIds.clear();
        return reply(200, { ok: true });
      default:
        return reply(404, { error: `no admin route ${route}` });
    }
  }
}

/** The secret (or key) a JSON call names, for faults aimed at one name. */
function targetOf(input: Record<string, unknown> | undefined): string | undefined {
  const named = input?.SecretId ?? input?.Name ?? input?.KeyId;
  return typeof named === "string" ? named : undefined;
}

export interface AwsEmulatorHandle extends EmulatorHandle {
  emulator: AwsEmulator;
}

/** The environment that points an AWS SDK (and secretgate) at a running emulator with its root keys. */
export function emulatorEnv(endpoint: string, region = DEFAULT_REGION): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: ROOT_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: ROOT_CREDENTIALS.secretAccessKey,
    AWS_REGION_NAME: region,
  };
}

export async function startEmulator(options: { host?: string; port?: number } = {}): Promise<AwsEmulatorHandle> {
  const emulator = new AwsEmulator();
  const server = createServer((request, response) => {
    emulator.handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ __type: "InternalFailure", message: (error as Error).message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const endpoint = `http://${address}:${port}`;
  return {
    endpoint,
    emulator,
    details: {
      region: DEFAULT_REGION,
      accessKeyId: ROOT_CREDENTIALS.accessKeyId,
      secretAccessKey: ROOT_CREDENTIALS.secretAccessKey,
      kmsKeyAlias: DEFAULT_KEY_ALIAS,
      admin: `${endpoint}/__admin/`,
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What an AssumeRole asked for (the role, and the external id when one was sent). */
function assumeRoleDetail(action: string, params: URLSearchParams): Pick<CallRecord, "roleArn" | "externalId"> {
  if (action !== "AssumeRole") return {};
  const externalId = params.get("ExternalId");
  return { roleArn: params.get("RoleArn") ?? "", ...(externalId !== null ? { externalId } : {}) };
}
