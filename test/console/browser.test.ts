import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSecretClient } from "../../clients/typescript/src/index.js";
import { launchChromium } from "../helpers/browser.js";
import { startOperatorBed } from "../helpers/operator-bed.js";
import { ROOT, stopServer, type TestServer } from "../helpers/server.js";
import type { VaultTestBed } from "../helpers/vault-test-bed.js";

// The operator console in a real browser (Debian's Chromium, headless, driven by
// playwright-core) against a real server on the embedded store and the Vault emulator: sign-in
// by keyboard, every page, a team edited through the server's validation, connection tests that
// fail and succeed, the audit tail showing a Read made meanwhile by the TypeScript client, an
// axe-core scan of every page, and no secret value or token in the DOM or in any response body.

const ARTIFACTS = join(ROOT, "test-artifacts", "console");
const READER_TOKEN = "reader-browser-token-0a1b2c3d4e5f";
const VALUES = ["sk-browser-openai-7f3e9a1c5b", "sk-browser-vault-2d8c4e6f0a"];
const AXE = readFileSync(join(ROOT, "node_modules", "axe-core", "axe.min.js"), "utf8");
const WAIT = { timeout: 10_000 };

let vault: VaultTestBed;
let server: TestServer;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;
let base: string;
const bodies: Array<Promise<{ url: string; body: string | undefined }>> = [];
const cspViolations: string[] = [];
const pageErrors: string[] = [];

/** An expression evaluated in the page (a string: this file is compiled without the DOM's types). */
function inPage<T>(expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** axe-core, from the local package, evaluated in the page (the CSP allows no injected script tag). */
async function seriousViolations(): Promise<string[]> {
  await page.evaluate(AXE);
  const violations = await inPage<Array<{ id: string; impact: string; nodes: number }>>(`
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } })
      .then((result) => result.violations.map((violation) => ({ id: violation.id, impact: violation.impact, nodes: violation.nodes.length })))`);
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id} (${violation.impact}, ${violation.nodes} nodes)`);
}

async function expectNoSecretsInDom(): Promise<void> {
  const html = await inPage<string>("document.documentElement.outerHTML");
  for (const secret of [...VALUES, READER_TOKEN, server.token!]) expect(html).not.toContain(secret);
}

/** Whether the focused element shows a focus ring. */
async function focusRing(): Promise<string> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template literal for the page to evaluate
  return inPage<string>("`${document.activeElement.tagName}:${getComputedStyle(document.activeElement).outlineStyle}`");
}

async function tabTo(name: string | RegExp, limit = 30): Promise<void> {
  for (let step = 0; step < limit; step++) {
    await page.keyboard.press("Tab");
    const text = await inPage<string>(`document.activeElement.innerText ?? ""`);
    if (typeof name === "string" ? text.trim() === name : name.test(text)) return;
  }
  throw new Error(`${String(name)} was not reached with Tab`);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ vault, server } = await startOperatorBed(READER_TOKEN));
  server.sensitive.add(READER_TOKEN);
  await server.grpc.write({ name: "OPENAI_API_KEY", value: VALUES[0]! });
  await server.grpc.write({ name: "ANTHROPIC_API_KEY", value: VALUES[1]!, backend: "vault" });
  await server.grpc.read({ names: ["OPENAI_API_KEY", "vault://ANTHROPIC_API_KEY", "MISSING_KEY"] });
  base = `http://${server.httpAddress}/console`;

  browser = await launchChromium();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.setDefaultTimeout(10_000);
  page.on("response", (response: Response) => {
    // Streams (the audit tail) end when the page leaves them; a body that cannot be had is recorded as such.
    bodies.push(
      response.body().then(
        (body) => ({ url: response.url(), body: body.toString("latin1") }),
        () => ({ url: response.url(), body: undefined }),
      ),
    );
  });
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  page.on("pageerror", (error) => pageErrors.push(error.message));
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stopServer(server);
  await vault?.close();
});

describe("the operator console in Chromium", () => {
  it("signs in with the keyboard alone and shows the overview", async () => {
    await page.goto(`${base}/`);
    await page.getByLabel("Bearer token").waitFor(WAIT);
    expect(await seriousViolations()).toEqual([]);
    await screenshot("sign-in");
    await page.keyboard.press("Tab");
    expect(await inPage<string>("document.activeElement?.id")).toBe("token");
    await page.keyboard.type(server.token!);
    await tabTo("Sign in");
    expect(await focusRing()).toBe("BUTTON:solid");
    await page.keyboard.press("Enter");
    await page.waitForURL(`${base}/overview`, WAIT);
    await page.getByRole("heading", { name: "vault" }).waitFor(WAIT);
    const local = page.getByRole("article").filter({ has: page.getByRole("heading", { name: "local" }) });
    await expect(local.getByText("reachable", { exact: true }).count()).resolves.toBe(1);
    await expect(local.getByText("closed").count()).resolves.toBe(1);
    await expect(local.locator("svg.sparkline").count()).resolves.toBe(1);
    expect(await seriousViolations()).toEqual([]);
    await screenshot("overview");
  });

  it("navigates by keyboard, with a visible focus", async () => {
    await tabTo("Secrets");
    expect(await focusRing()).toBe("A:solid");
    await page.keyboard.press("Enter");
    await page.waitForURL(`${base}/secrets`, WAIT);
    await page.getByRole("rowheader", { name: "OPENAI_API_KEY" }).waitFor(WAIT);
    expect(await page.getByRole("link", { name: "Secrets" }).getAttribute("aria-current")).toBe("page");
  });

  it("lists hosted names with whether they resolve, filters and sorts, and never shows a value", async () => {
    const rows = page.locator("tbody tr");
    expect(await page.getByRole("rowheader", { name: "ANTHROPIC_API_KEY" }).count()).toBe(1);
    await page.getByLabel("Filter").fill("openai");
    await expect(rows.count()).resolves.toBe(1);
    await page.getByLabel("Filter").fill("");
    await page.getByRole("button", { name: "Name" }).click();
    expect(await page.getByRole("columnheader", { name: "Name" }).getAttribute("aria-sort")).toBe("descending");
    expect(await rows.first().locator("th").innerText()).toBe("OPENAI_API_KEY");
    expect(await page.getByRole("button", { name: /reveal|show value/i }).count()).toBe(0);
    await expectNoSecretsInDom();
    expect(await seriousViolations()).toEqual([]);
    await screenshot("secrets");
  });

  it("edits a team: the server's message by the invalid field, then saved, and still there after a reload", async () => {
    await page.getByRole("link", { name: "Teams" }).click();
    await page.waitForURL(`${base}/teams`, WAIT);
    await page.getByLabel("Team id").fill("team-ui");
    await page.getByRole("button", { name: "Open or create" }).click();
    await page.waitForURL(`${base}/teams/team-ui`, WAIT);
    await page.getByLabel("Back end").selectOption("vault");
    await page.getByLabel("namespace").fill("team-ns");
    await page.getByLabel("mount").fill("kv/../secret");
    await page.getByRole("button", { name: "Save" }).click();
    const error = page.locator("#setting-mount-error");
    await error.waitFor(WAIT);
    expect(await error.innerText()).toContain("must not contain '.' or '..' segments");
    expect(await page.getByLabel("mount").getAttribute("aria-invalid")).toBe("true");
    expect(await inPage<string>("document.activeElement?.id")).toBe("setting-mount");
    expect((await server.grpc.getTeamSettings({ teamId: "team-ui" })).configured).toBe(false);
    expect(await seriousViolations()).toEqual([]);
    await screenshot("team-invalid");

    await page.getByLabel("mount").fill("");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved.").waitFor(WAIT);
    expect(await error.count()).toBe(0);
    await page.reload();
    await page.getByLabel("namespace").waitFor(WAIT);
    expect(await page.getByLabel("Back end").inputValue()).toBe("vault");
    expect(await page.getByLabel("namespace").inputValue()).toBe("team-ns");
    expect((await server.grpc.getTeamSettings({ teamId: "team-ui" })).settings).toEqual({
      backend: "vault",
      namespace: "team-ns",
    });
    await screenshot("team");
  });

  it("tests a connection that works and one that fails, saving neither", async () => {
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.getByText("Connection works: vault answered under these settings.").waitFor(WAIT);
    await page.getByLabel("namespace").fill("no-such-ns");
    await page.getByRole("button", { name: "Test connection" }).click();
    await page.getByText(/^Connection failed: vault answered [A-Z_]+: /).waitFor(WAIT);
    expect(await seriousViolations()).toEqual([]);
    await screenshot("team-test-connection");
    expect((await server.grpc.getTeamSettings({ teamId: "team-ui" })).settings).toEqual({
      backend: "vault",
      namespace: "team-ns",
    });
  });

  it("tails the audit log: a Read made meanwhile by the TypeScript client appears; pause holds the view", async () => {
    await page.getByRole("link", { name: "Audit" }).click();
    await page.waitForURL(`${base}/audit`, WAIT);
    await page.getByText("Live.", { exact: false }).waitFor(WAIT);
    const client = createSecretClient(`http://${server.grpcAddress}`, { token: READER_TOKEN });
    const { results } = await client.read({ names: ["OPENAI_API_KEY"] });
    expect(results[0]!.found).toBe(true);
    const readerRows = page.locator("tbody tr").filter({ hasText: "reader" }).filter({ hasText: "Read" });
    await readerRows.first().waitFor(WAIT);
    expect(await readerRows.first().innerText()).toContain("OPENAI_API_KEY");

    await page.getByLabel("Identity").fill("reader");
    await expect(page.locator("tbody tr").filter({ hasNotText: "reader" }).count()).resolves.toBe(0);
    await page.getByRole("button", { name: "Pause" }).click();
    const before = await readerRows.count();
    await client.read({ names: ["OPENAI_API_KEY"] });
    await page.getByText(/new records while paused/).waitFor(WAIT);
    expect(await readerRows.count()).toBe(before);
    await page.getByRole("button", { name: "Resume" }).click();
    await expect(readerRows.count()).resolves.toBeGreaterThan(before);
    await expectNoSecretsInDom();
    expect(await seriousViolations()).toEqual([]);
    await screenshot("audit");
  });

  it("lists the callers with their rules and no token", async () => {
    await page.getByRole("link", { name: "Callers" }).click();
    await page.waitForURL(`${base}/callers`, WAIT);
    await page.getByRole("rowheader", { name: "reader" }).waitFor(WAIT);
    expect(await page.getByRole("row").filter({ hasText: "reader" }).innerText()).toContain("OPENAI_*");
    await expectNoSecretsInDom();
    expect(await seriousViolations()).toEqual([]);
    await screenshot("callers");
  });

  it("signs out, forgetting the token; a non-admin token sees only what its rules allow", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Bearer token").waitFor(WAIT);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.getByLabel("Bearer token").fill(READER_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/secrets`, WAIT);
    await page.getByRole("rowheader", { name: "OPENAI_API_KEY" }).waitFor(WAIT);
    expect(await page.getByRole("navigation").getByRole("link").allInnerTexts()).toEqual(["Secrets"]);
    expect(await page.getByRole("rowheader", { name: "ANTHROPIC_API_KEY" }).count()).toBe(0);
    // A bookmarked admin page shows what this identity may see instead.
    await page.goto(`${base}/overview`);
    await page.getByRole("heading", { name: "Secrets" }).waitFor(WAIT);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Bearer token").waitFor(WAIT);
  });

  it("sent no secret value or token in any response body, and broke no CSP rule", async () => {
    // Leave the pages (ending any stream) before reading every body the browser received.
    await page.goto("about:blank");
    const received = await Promise.all(bodies);
    expect(received.length).toBeGreaterThan(20);
    const read = received.filter((response) => response.body !== undefined);
    // Everything but streams cut off by leaving the page was read.
    expect(
      received
        .filter((response) => response.body === undefined)
        .every((response) => response.url.endsWith("/TailAudit")),
    ).toBe(true);
    for (const { url, body } of read) {
      for (const secret of [...VALUES, READER_TOKEN, server.token!]) expect(body!.includes(secret), url).toBe(false);
    }
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
