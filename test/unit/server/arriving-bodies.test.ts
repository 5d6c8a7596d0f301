import { afterEach, describe, expect, it, vi } from "vitest";
import { ArrivingBodies } from "../../../src/server/arriving-bodies.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("ArrivingBodies", () => {
  it("lets bodies hold up to the bound together, and gives their bytes back when they close", () => {
    const bodies = new ArrivingBodies(100, 1_000, () => undefined);
    const first = bodies.hold(() => undefined);
    const second = bodies.hold(() => undefined);
    expect(first.take(60)).toBe(true);
    expect(second.take(41)).toBe(false);
    expect(second.take(40)).toBe(true);
    expect(bodies.heldBytes).toBe(100);
    first.close();
    first.close(); // closing twice gives back once
    expect(bodies.heldBytes).toBe(40);
    expect(second.take(60)).toBe(true);
    second.close();
    expect(bodies.heldBytes).toBe(0);
    expect(bodies.openCount).toBe(0);
    expect(first.take(1)).toBe(false); // a closed hold takes nothing more
    bodies.close();
  });

  it("cancels a body still open after the timeout, once, after giving its bytes back, and leaves the timely ones", () => {
    vi.useFakeTimers();
    let late = 0;
    const cancelled: string[] = [];
    const bodies = new ArrivingBodies(100, 1_000, () => late++);
    let heldWhenCancelled = -1;
    const slow = bodies.hold(() => {
      heldWhenCancelled = bodies.heldBytes;
      cancelled.push("slow");
    });
    slow.take(50);
    vi.advanceTimersByTime(500);
    const timely = bodies.hold(() => cancelled.push("timely"));
    timely.take(10);
    vi.advanceTimersByTime(600);
    expect(cancelled).toEqual(["slow"]);
    expect(heldWhenCancelled).toBe(10); // the slow body's 50 bytes were given back first
    expect(late).toBe(1);
    timely.close();
    vi.advanceTimersByTime(5_000);
    expect(cancelled).toEqual(["slow"]);
    expect(late).toBe(1);
    expect(bodies.openCount).toBe(0);
    // No body open, no timer left running.
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a hold renewed keeps what it holds and has the whole timeout again; a closed one stays closed", () => {
    vi.useFakeTimers();
    const cancelled: string[] = [];
    const bodies = new ArrivingBodies(100, 1_000, () => undefined, Date.now);
    const call = bodies.hold(() => cancelled.push("call"));
    call.take(70);
    vi.advanceTimersByTime(800);
    call.renew();
    expect(bodies.heldBytes).toBe(70); // a whole message awaiting the end of its request is still held
    expect(call.take(31)).toBe(false);
    expect(call.take(30)).toBe(true);
    vi.advanceTimersByTime(800); // 1,600 ms after it opened, 800 after it was renewed
    expect(cancelled).toEqual([]);
    vi.advanceTimersByTime(400);
    expect(cancelled).toEqual(["call"]);
    expect(bodies.heldBytes).toBe(0);
    call.renew();
    expect(call.take(1)).toBe(false);
    expect(bodies.heldBytes).toBe(0);
    bodies.close();
  });
});
