import { afterEach, describe, expect, it, vi } from "vitest";
import { LocationClients, MAX_LOCATIONS } from "../../../src/drivers/location-clients.js";

interface Client {
  location: string;
}

function pool(max: number, retireAfterMs = 1_000) {
  const made: string[] = [];
  const retired: string[] = [];
  const clients = new LocationClients<Client>({
    max,
    retireAfterMs,
    retire: (client) => retired.push(client.location),
  });
  const get = (location: string) =>
    clients.get(location, () => {
      made.push(location);
      return { location };
    });
  return { clients, get, made, retired };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("LocationClients", () => {
  it("reuses one client per location", () => {
    const { get, made } = pool(4);
    expect(get("eu")).toBe(get("eu"));
    expect(made).toEqual(["eu"]);
  });

  it("keeps at most `max` locations, pushing out the least recently used", () => {
    const { clients, get, made } = pool(2);
    get("a");
    get("b");
    get("a"); // a is now the most recently used
    get("c"); // pushes out b
    expect(clients.size).toBe(2);
    get("a");
    expect(made).toEqual(["a", "b", "c"]);
    get("b");
    expect(made).toEqual(["a", "b", "c", "b"]);
    expect(clients.size).toBe(2);
  });

  it("counts find as a use, so a token looked up often stays", () => {
    const { clients, get, made } = pool(2);
    get("a");
    get("b");
    expect(clients.find("a")?.location).toBe("a");
    get("c");
    expect(clients.find("a")?.location).toBe("a");
    expect(clients.find("b")).toBeUndefined();
    expect(made).toEqual(["a", "b", "c"]);
  });

  it("retires a pushed-out client only after the grace period, while calls it carries may still run", () => {
    vi.useFakeTimers();
    const { clients, get, retired } = pool(1, 60_000);
    get("a");
    get("b");
    expect(clients.retiringCount).toBe(1);
    vi.advanceTimersByTime(59_999);
    expect(retired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(retired).toEqual(["a"]);
    expect(clients.retiringCount).toBe(0);
  });

  it("retires a replaced or deleted client the same way, and leaves a newer one when asked to delete an older", () => {
    vi.useFakeTimers();
    const { clients, get, retired } = pool(4, 10);
    const first = get("a");
    clients.set("a", { location: "a2" });
    clients.delete("a", first); // already replaced: the newer client stays
    expect(clients.find("a")?.location).toBe("a2");
    clients.delete("a");
    expect(clients.find("a")).toBeUndefined();
    vi.advanceTimersByTime(10);
    expect(retired.sort()).toEqual(["a", "a2"]);
  });

  it("retires every client at once on close, those waiting included", () => {
    vi.useFakeTimers();
    const { clients, get, retired } = pool(1, 60_000);
    get("a");
    get("b");
    clients.close();
    expect(retired.sort()).toEqual(["a", "b"]);
    expect(clients.size).toBe(0);
    expect(clients.retiringCount).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(retired).toHaveLength(2);
  });

  it("is bounded by default", () => {
    const { clients, get } = pool(undefined as unknown as number);
    for (let index = 0; index < MAX_LOCATIONS + 50; index += 1) get(`location-${index}`);
    expect(clients.size).toBe(MAX_LOCATIONS);
    clients.close();
  });
});
