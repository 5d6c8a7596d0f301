import type { AddressInfo, Server } from "node:net";

/** `host:port` → its parts; an IPv6 host loses its brackets. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  return { host, port: Number(address.slice(colon + 1)) };
}

/** Listens on `address` (port 0 picks one); resolves with the bound `host:port`. */
export async function listenOn(server: Server, address: string): Promise<string> {
  const { host, port } = splitAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return `${address.slice(0, address.lastIndexOf(":"))}:${(server.address() as AddressInfo).port}`;
}
