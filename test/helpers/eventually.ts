/**
 * Polls until `check` holds: for what happens asynchronously (change notices between replicas, a
 * probe turning ready). The timeout only bounds a failing test; nothing is asserted about time.
 */
export async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
