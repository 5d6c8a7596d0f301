import { once } from "node:events";
import { type DescMethodServerStreaming, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import type { CallContext } from "../core/call-context.js";
import { Code, ServiceError } from "../core/errors.js";
import { type Dispatcher, methodPath } from "./dispatcher.js";

/**
 * The server-streaming methods (TailAudit) on both listeners: each message is written as the
 * dispatcher's stream yields it, with the transport's back-pressure; a caller that goes away
 * aborts the stream, and a stream that fails ends with its status.
 */
export function grpcStreamingDefinition(method: DescMethodServerStreaming): grpc.MethodDefinition<Buffer, unknown> {
  return {
    path: methodPath(method),
    requestStream: false,
    responseStream: true,
    // As for unary calls: a malformed body is INVALID_ARGUMENT, decoded in the handler.
    requestSerialize: (bytes: Buffer) => bytes,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (message: unknown) => Buffer.from(toBinary(method.output, message as never)),
    responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
  };
}

export function grpcStreamingHandler(
  method: DescMethodServerStreaming,
  dispatcher: Dispatcher,
  contextOf: (call: grpc.ServerWritableStream<Buffer, unknown>) => CallContext,
): grpc.handleServerStreamingCall<Buffer, unknown> {
  return (call) => {
    const fail = (error: unknown) => {
      const failure = error instanceof ServiceError ? error : new ServiceError(Code.Internal, "internal error");
      call.emit("error", { code: failure.code as number, details: failure.message });
    };
    let request: unknown;
    try {
      request = fromBinary(method.input, call.request);
    } catch (error) {
      fail(
        new ServiceError(
          Code.InvalidArgument,
          `request body is not a valid ${method.input.typeName} message: ${(error as Error).message}`,
        ),
      );
      return;
    }
    const gone = new AbortController();
    call.once("cancelled", () => gone.abort());
    call.once("close", () => gone.abort());
    let stream: AsyncIterable<unknown>;
    try {
      stream = dispatcher.dispatchStream(method, request, { ...contextOf(call), signal: gone.signal });
    } catch (error) {
      fail(error);
      return;
    }
    void (async () => {
      for await (const message of stream) {
        if (!call.write(message)) await once(call, "drain", { signal: gone.signal });
      }
      call.end();
    })().catch((error: unknown) => {
      if (!gone.signal.aborted) fail(error);
    });
  };
}

/** The Connect listener's implementation of a server-streaming method. */
export async function* connectStream(
  dispatcher: Dispatcher,
  method: DescMethodServerStreaming,
  request: unknown,
  context: CallContext,
): AsyncGenerator<unknown> {
  try {
    yield* dispatcher.dispatchStream(method, request, context);
  } catch (error) {
    const failure = error instanceof ServiceError ? error : new ServiceError(Code.Internal, "internal error");
    throw new ConnectError(failure.message, failure.code);
  }
}
