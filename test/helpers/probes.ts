import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import type { TestServer } from "./server.js";

/** GET /readyz (with `?strict` when asked): its status code and JSON body. */
export async function readyz(
  server: TestServer,
  strict = false,
): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`http://${server.httpAddress}/readyz${strict ? "?strict" : ""}`);
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** grpc.health.v1.Health/Check for one service name on the gRPC port ("" is the server as a whole). */
export async function grpcHealth(
  server: TestServer,
  service = "",
): Promise<"SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN"> {
  const health = createClient(Health, createGrpcTransport({ baseUrl: `http://${server.grpcAddress}` }));
  const { status } = await health.check({ service });
  return HealthCheckResponse_ServingStatus[status] as "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN";
}

/** One series' value in the /metrics text (0 when absent): `name{labels}` as Prometheus writes it, or a name without labels. */
export async function metricValue(server: TestServer, series: string): Promise<number> {
  const text = await (await fetch(`http://${server.httpAddress}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
