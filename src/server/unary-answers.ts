import type { ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus, trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import type { BodyFormat } from "./request-body.js";

/**
 * A call refused before connect-node could see it (a malformed body, a bad authority), in its
 * protocol's own error shape.
 */
export function refusal(format: BodyFormat, error: ConnectError): { status: number; header: Headers; body: Uint8Array; trailer?: Headers } {
  if (format.protocol === "connect") {
    const header = new Headers(error.metadata);
    header.set("content-type", "application/json");
    return {
      status: codeToHttpStatus(error.code),
      header,
      body: new TextEncoder().encode(JSON.stringify({ code: codeToString(error.code), message: error.rawMessage })),
    };
  }
  const header = new Headers(error.metadata);
  header.set("content-type", responseContentType(format));
  const status = setTrailerStatus(new Headers(), error);
  if (format.protocol === "grpc-web") {
    // gRPC-Web sends its trailers as the body's last envelope.
    return { status: 200, header, body: encodeEnvelope(trailerFlag, trailerSerialize(status)) };
  }
  return { status: 200, header, body: new Uint8Array(0), trailer: status };
}

/** The content type of a response in the request's protocol and format. */
export function responseContentType(format: BodyFormat): string {
  if (format.protocol === "connect") return format.binary ? "application/proto" : "application/json";
  return `application/${format.protocol}+${format.binary ? "proto" : "json"}`;
}
