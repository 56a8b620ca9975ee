import type { ExecutionContext } from "ava";
import type { Locator, Page } from "playwright-core";

// What an operator does on the web UI's pages (docs/web-ui.md), found the way a
// screen reader finds them: by role, name and label.

/** Waits until the page's main has shown its first data (aria-busy="false"). */
export async function pageReady(page: Page, heading: string | RegExp, timeout = 15_000): Promise<void> {
  await page.getByRole("heading", { level: 1, name: heading }).waitFor({ timeout });
  await page.locator('main#main[aria-busy="false"]').waitFor({ timeout });
}

/** Polls until `check` holds (for text that a page fills in as data arrives); the error says what was last seen. */
export async function eventually<T>(what: string, read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last saw ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The text a person sees in an element, as laid out (Playwright's innerText, not the DOM property the lint rule means). */
export function shown(locator: Locator): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText, which reads rendered text on purpose
  return locator.innerText();
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export function navLink(page: Page, name: string) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
}

export async function go(page: Page, name: string, heading = name): Promise<void> {
  await navLink(page, name).click();
  await pageReady(page, heading);
}

export function planSection(page: Page) {
  return page.locator("section").filter({ has: page.getByRole("heading", { level: 2, name: "Plan", exact: true }) });
}

/** On the Deploy page: the app, the environment and a version picked. */
export async function choose(page: Page, version: string): Promise<void> {
  await page.getByRole("combobox", { name: "App", exact: true }).selectOption("hello");
  await page.getByRole("combobox", { name: "Environment", exact: true }).selectOption("local");
  await page.getByRole("radio", { name: new RegExp(`^${escapeRegExp(version)}\\b`) }).check();
}

/** Deploys `version` to `only` (every other server unchecked), by clicking; returns the deploy's id from the URL. */
export async function deployByClicking(t: ExecutionContext, page: Page, version: string, only: string, others: string[], beforeSubmit?: () => Promise<unknown>): Promise<number> {
  await go(page, "Deploy");
  await choose(page, version);
  const servers = page.getByRole("group", { name: "Servers" });
  for (const other of others) await servers.getByRole("checkbox", { name: other, exact: true }).uncheck();
  t.true(await servers.getByRole("checkbox", { name: only, exact: true }).isChecked(), `${only} stays chosen`);
  // The plan follows the choice: only `only` is in it.
  const cells = await eventually(
    `the plan to list ${only} alone`,
    async () => (await planSection(page).locator("table td, table th").allInnerTexts()).map((text) => text.trim()),
    (texts) => texts.includes(only) && others.every((other) => !texts.includes(other)),
  );
  t.true(cells.includes(only));
  for (const other of others) t.false(cells.includes(other), `${other} is not in the plan`);
  const button = page.getByRole("button", { name: new RegExp(`^Deploy ${escapeRegExp(version)}`) });
  t.true(await button.isEnabled());
  await beforeSubmit?.();
  await button.click();
  await page.waitForURL(/#\/deploys\/\d+$/);
  return Number(/#\/deploys\/(\d+)$/.exec(page.url())?.[1]);
}

export async function waitForSuccess(page: Page): Promise<void> {
  await page.locator('[data-deploy-state="succeeded"]').waitFor({ timeout: 60_000 });
}

/** The log of `host` on a live deploy page, once it holds `line`. */
export async function logOf(page: Page, host: string, line: RegExp): Promise<string> {
  const log = page.getByLabel(`Log of ${host}`, { exact: true });
  await log.waitFor({ state: "visible" });
  return eventually(`the log of ${host} to show ${line}`, () => shown(log), (text) => line.test(text));
}
