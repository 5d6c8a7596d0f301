import { Duplex, Transform, type TransformCallback } from "node:stream";

const HEAD_END = Buffer.from("\r\n\r\n");
const MAX_HEAD_BYTES = 64 * 1024;
const LIST_LINE = /^LIST (\S+) (HTTP\/1\.[01])\r\n/;

/**
 * Node's HTTP parser knows a fixed set of methods and answers Vault's `LIST` verb (which hvac and
 * curl users send) with 400 before any handler runs. Vault serves `LIST /v1/p` exactly as
 * `GET /v1/p?list=true`, so the request line is rewritten that way before the parser sees it.
 * Request framing (Content-Length) says where the next request on a keep-alive connection starts;
 * after a chunked body, or a head too large to be one, the rest of the connection passes unchanged.
 */
class ListVerbRewriter extends Transform {
  private head = Buffer.alloc(0);
  private bodyLeft = 0;
  private passThrough = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.passThrough) {
        this.push(rest);
        break;
      }
      if (this.bodyLeft > 0) {
        const body = rest.subarray(0, this.bodyLeft);
        this.bodyLeft -= body.length;
        this.push(body);
        rest = rest.subarray(body.length);
        continue;
      }
      this.head = Buffer.concat([this.head, rest]);
      const end = this.head.indexOf(HEAD_END);
      if (end < 0) {
        if (this.head.length > MAX_HEAD_BYTES) this.passAll();
        break;
      }
      const head = this.head.subarray(0, end + HEAD_END.length).toString("latin1");
      rest = this.head.subarray(end + HEAD_END.length);
      this.head = Buffer.alloc(0);
      this.push(
        Buffer.from(
          head.replace(
            LIST_LINE,
            (_line, target: string, version: string) => `GET ${withListQuery(target)} ${version}\r\n`,
          ),
          "latin1",
        ),
      );
      if (/^transfer-encoding:/im.test(head)) this.passThrough = true;
      else this.bodyLeft = Number(/^content-length:\s*(\d+)\s*$/im.exec(head)?.[1] ?? 0);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.head.length > 0) this.push(this.head);
    done();
  }

  private passAll(): void {
    this.passThrough = true;
    this.push(this.head);
    this.head = Buffer.alloc(0);
  }
}

const withListQuery = (target: string) => `${target}${target.includes("?") ? "&" : "?"}list=true`;

/**
 * The connection as the HTTP server should see it (`server.emit("connection", …)` takes any
 * duplex): bytes from the client go through the LIST rewrite, answers go straight back.
 */
export function acceptingListVerb(socket: Duplex): Duplex {
  return Duplex.from({ readable: socket.pipe(new ListVerbRewriter()), writable: socket });
}
