import { honestReads } from "../test/helpers/connection-holds.js";

/**
 * The honest caller of bench section 9, in a process of its own so that the attacker's thousands
 * of sockets in the benchmark's process do not delay its Reads: Reads `name` once a second over a
 * new connection on each port for `seconds`, then prints both ports' outcomes as JSON.
 *
 *   node dist/bench/honest-reader.js GRPC_ADDRESS HTTP_ADDRESS TOKEN NAME SECONDS
 */
const [grpcAddress, httpAddress, token, name, seconds] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const until = () => Date.now() > deadline;
const [grpc, http] = await Promise.all([
  honestReads("grpc", grpcAddress!, token!, name!, 1000, until),
  honestReads("http", httpAddress!, token!, name!, 1000, until),
]);
process.stdout.write(`${JSON.stringify({ grpc, http })}\n`);
