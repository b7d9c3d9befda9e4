// The Playwright half of run.sh: drives code-server (VS Code in the browser) with qinet.vsix
// installed, in headless Chromium, and checks what a user sees. Every check that edits the
// document is also verified on disk (the file is saved with Ctrl+S and read back), so it does not
// rest on DOM selectors alone. Writes RESULTS/results.json and screenshots; exit status 1 on any
// failed check.
//
//   node test.mjs --url URL --workspace DIR --file story.txt --results DIR [--chromium PATH] [--profile DIR]

import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opt } = parseArgs({
  options: {
    url: { type: "string" },
    workspace: { type: "string" },
    file: { type: "string", default: "story.txt" },
    results: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    profile: { type: "string" },
  },
});
for (const key of ["url", "workspace", "results"]) {
  if (!opt[key]) {
    console.error(`--${key} is required`);
    process.exit(2);
  }
}
const FILE = path.join(opt.workspace, opt.file);
fs.mkdirSync(opt.results, { recursive: true });

const SENTENCE = "The old man walked into the ";
const SECOND_LINE = "She opened the ";
const WORD_PREFIX = "do";
const GHOST = ".editor-instance .ghost-text-decoration, .editor-instance .ghost-text";
const SUGGEST_ROWS = ".suggest-widget.visible .monaco-list-row";
const QUICK_ROWS = ".quick-input-widget .monaco-list-row";

const results = { ok: false, checks: {}, started: new Date().toISOString() };
const t0 = Date.now();
const log = (msg) => console.log(`[test.mjs +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const flat = (s) => s.replace(/\u00a0/g, " ");
const readFile = () => fs.readFileSync(FILE, "utf8");

function record(name, ok, detail, extra = {}) {
  results.checks[name] = { ok, detail, ...extra };
  log(`${ok ? "PASS" : "FAIL"} ${name}: ${detail}`);
  return ok;
}

/** Poll `fn` until it returns a truthy value or `ms` pass; returns that value (or undefined). */
async function until(fn, ms, every = 250) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) return undefined;
    await sleep(every);
  }
}

/** Ctrl+S, then the file's text once it differs from `previous` (or unchanged after `ms`). */
async function saveAndRead(page, previous, ms = 5000) {
  await page.keyboard.press("Control+S");
  return (await until(() => {
    const text = readFile();
    return text !== previous ? text : undefined;
  }, ms, 100)) ?? readFile();
}

/**
 * The ghost text on screen: `inline` is the part after the cursor on its own line (VS Code splits
 * it into several `.ghost-text-decoration` spans), `below` the further lines (`.ghost-text` blocks).
 */
async function ghostText(page) {
  const { inline, below } = await page.evaluate(() => {
    const editor = document.querySelector(".editor-instance");
    if (!editor) return { inline: "", below: [] };
    const inline = [...editor.querySelectorAll(".ghost-text-decoration")]
      .filter((e) => !e.closest(".ghost-text"))
      .map((e) => e.textContent ?? "").join("");
    const below = [...editor.querySelectorAll(".ghost-text")].flatMap((block) => {
      const lines = [...block.querySelectorAll(".view-line")];
      return (lines.length > 0 ? lines : [block]).map((l) => l.textContent ?? "");
    });
    return { inline, below };
  });
  return { inline: flat(inline), below: below.map(flat), text: [flat(inline), ...below.map(flat)].join("\n") };
}

async function ghostParts(page) {
  return page.evaluate((sel) => [...document.querySelectorAll(sel)].map((e) => e.outerHTML.slice(0, 600)), GHOST);
}

async function statusBarText(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll(".statusbar-item")]
      .map((e) => e.textContent ?? "")
      .find((t) => t.includes("QINet")) ?? "",
  );
}

/** Types `title` into the command palette (F1); whether a row lists it, and the rows' labels. */
async function findCommand(page, title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget", { state: "visible" });
  await page.keyboard.type(title);
  const listed = await page.locator(QUICK_ROWS, { hasText: title }).first()
    .waitFor({ timeout: 15_000 }).then(() => true, () => false);
  const rows = await page.evaluate((sel) =>
    [...document.querySelectorAll(sel)].map((r) => r.getAttribute("aria-label") ?? ""), QUICK_ROWS);
  return { listed, rows };
}

/** Clicks the "QINet: ready" item (Detect Language); its text once it shows a language. */
async function detectFromStatusBar(page) {
  await page.locator(".statusbar-item", { hasText: "QINet: ready" }).first().click();
  return until(async () => {
    const text = await statusBarText(page);
    return text.includes(" · ") ? text.trim() : undefined;
  }, 30_000);
}

async function main(page) {
  log(`opening ${opt.url}`);
  await page.goto(opt.url);
  await page.waitForSelector(".monaco-workbench", { timeout: 60_000 });
  await page.waitForSelector(".explorer-folders-view, .explorer-viewlet", { timeout: 60_000 }).catch(() => {});

  // Open the (empty) plain-text file with Quick Open: this activates the extension.
  await page.keyboard.press("Control+P");
  await page.waitForSelector(".quick-input-widget", { state: "visible" });
  await page.keyboard.type(opt.file);
  await page.locator(QUICK_ROWS, { hasText: opt.file }).first().waitFor({ timeout: 30_000 });
  await page.keyboard.press("Enter");
  await page.waitForSelector(`.tab[aria-label*="${opt.file}"]`, { timeout: 30_000 });
  await page.waitForSelector(".editor-instance .monaco-editor", { timeout: 30_000 });
  // Hide the side bar (Ctrl+B): the whole ghost text then fits in the screenshot.
  await page.keyboard.press("Control+B");
  await page.waitForSelector(".part.sidebar", { state: "hidden", timeout: 5_000 }).catch(() => log("the side bar is still shown"));

  // The status bar item: "QINet: loading…" while the model loads, then "QINet: ready".
  // An error that lasts 15 s (no automatic restart brought it back to "loading") ends the wait.
  const seen = new Set();
  let errorSince;
  const ready = await until(async () => {
    const text = await statusBarText(page);
    if (text) seen.add(text.trim());
    errorSince = text.includes("QINet: error") ? errorSince ?? Date.now() : undefined;
    if (errorSince !== undefined && Date.now() - errorSince > 15_000) return { ok: false };
    return text.includes("QINet: ready") ? { ok: true, text } : undefined;
  }, 120_000, 200);
  record("status_bar_ready", Boolean(ready?.ok), ready?.ok ? `status bar shows "${ready.text.trim()}" (seen: ${[...seen].join(" → ")})`
    : `no "QINet: ready" in the status bar ${ready ? "(an error for 15 s)" : "within 120 s"} (seen: ${[...seen].join(" → ") || "no QINet item"})`);
  if (!ready?.ok) return;

  // (a) Ghost text while typing, then Tab accepts it (verified on disk).
  await page.click(".editor-instance .view-lines");
  await page.keyboard.type(SENTENCE, { delay: 40 });
  const ghost = await until(async () => {
    const { text } = await ghostText(page);
    return text.trim().length > 0 ? text : undefined;
  }, 30_000);
  if (!record("ghost_text_shown", Boolean(ghost), ghost ? `ghost text after "${SENTENCE}": ${JSON.stringify(ghost)}`
    : `no non-empty ${GHOST} within 30 s of typing "${SENTENCE}"`, { text: ghost ?? null })) {
    await page.screenshot({ path: path.join(opt.results, "failure-ghost-text.png") });
    return;
  }
  await sleep(300); // let the decoration settle for the screenshot
  await page.screenshot({ path: path.join(opt.results, "vscode-ghost-text.png") });
  const shown = await ghostText(page);
  results.ghost_parts = await ghostParts(page);
  await page.keyboard.press("Tab");
  const afterTab = await saveAndRead(page, "");
  // Tab inserts the whole suggestion: the first line is exactly what was typed + the inline part.
  const expectedLine = SENTENCE + shown.inline;
  const acceptedOk = shown.inline.length > 0 && afterTab.split("\n")[0] === expectedLine &&
    (shown.below.length === 0 || afterTab.startsWith(expectedLine + "\n"));
  record("ghost_text_accepted", acceptedOk, acceptedOk
    ? `Tab inserted it; the saved file starts with ${JSON.stringify(expectedLine)}`
    : `after Tab the saved file is ${JSON.stringify(afterTab)}; expected its first line to be ${JSON.stringify(expectedLine)}`,
  { shown, file: afterTab });

  // (b) The completion menu: Ctrl+Space after a word prefix lists the model's words (the only
  // completion source: word-based suggestions are off); Enter inserts the first (on disk).
  await page.keyboard.press("Escape");
  await page.keyboard.press("Control+End");
  await page.keyboard.press("Enter");
  await page.keyboard.type(SECOND_LINE + WORD_PREFIX, { delay: 40 });
  await page.keyboard.press("Escape"); // any ghost text
  // The rows in list order (the DOM order of a virtualised list is not), and the selected one:
  // VS Code may select the word that matches the ghost text rather than the first row.
  const suggestRows = () => page.evaluate((sel) => {
    const rows = [...document.querySelectorAll(sel)].map((r) => ({
      index: Number(r.getAttribute("data-index") ?? 0),
      label: (r.querySelector(".label-name")?.textContent ?? r.getAttribute("aria-label") ?? "").trim(),
      focused: r.classList.contains("focused"),
      detail: (r.querySelector(".details-label")?.textContent ?? "").trim(),
    }));
    return rows.sort((a, b) => a.index - b.index);
  }, SUGGEST_ROWS);
  let rows = [];
  for (let attempt = 0; attempt < 3 && rows.length === 0; attempt++) {
    await page.keyboard.press("Control+Space");
    rows = (await until(async () => {
      const found = await suggestRows();
      return found.length > 0 && found.some((r) => r.focused) ? found : undefined;
    }, 15_000)) ?? [];
  }
  await sleep(300); // the list may still be refined by a second response
  if (rows.length > 0) rows = await suggestRows();
  const labels = rows.map((r) => r.label);
  const focused = rows.find((r) => r.focused);
  const selected = focused?.label;
  // Model words only (word-based suggestions are off): each one extends the prefix, at least one
  // is longer than it (the prefix itself can be a word: "do"), and the selected row's detail is
  // the server's probability ("19.3%").
  const wordsOk = labels.length > 0 && labels.every((w) => w.startsWith(WORD_PREFIX)) &&
    labels.some((w) => w.length > WORD_PREFIX.length) && /^\d+(\.\d+)?%$/.test(focused?.detail ?? "");
  record("completion_words", wordsOk, labels.length === 0
    ? `no rows in ${SUGGEST_ROWS} after Ctrl+Space on "${SECOND_LINE}${WORD_PREFIX}"`
    : `${labels.length} words for "${WORD_PREFIX}": ${labels.join(", ")}; selected "${selected}" (${focused?.detail || "no detail"})` +
      `${wordsOk ? "" : " (expected words that extend the prefix, and a probability as the detail)"}`,
  { words: labels, selected: selected ?? null, probability: focused?.detail ?? null });
  if (labels.length > 0 && selected !== undefined) {
    await page.screenshot({ path: path.join(opt.results, "vscode-completion.png") });
    await page.keyboard.press("Enter");
    const afterAccept = await saveAndRead(page, afterTab);
    const lastLine = afterAccept.split("\n").at(-1);
    const insertedOk = lastLine === SECOND_LINE + selected;
    record("completion_accepted", insertedOk, insertedOk
      ? `Enter inserted the selected word "${selected}"; the saved last line is ${JSON.stringify(lastLine)}`
      : `after Enter the saved last line is ${JSON.stringify(lastLine)}, expected ${JSON.stringify(SECOND_LINE + selected)}`);
  } else {
    await page.screenshot({ path: path.join(opt.results, "failure-completion.png") });
  }
  await page.keyboard.press("Escape");

  // (c) QINet: Continue Text from the command palette, with the cursor at the end of the first
  // line: the text is inserted there; everything before and after the cursor is unchanged.
  const before = await saveAndRead(page, "", 0);
  await page.keyboard.press("Control+Home");
  await page.keyboard.press("End");
  await page.keyboard.press("Escape"); // ghost text at the new cursor position, if any
  const offset = before.indexOf("\n") < 0 ? before.length : before.indexOf("\n");
  const { listed, rows: commands } = await findCommand(page, "QINet: Continue Text");
  record("continue_text_in_palette", listed, listed
    ? `the command palette lists it (${commands.join(" | ")})`
    : `"QINet: Continue Text" not in the command palette (rows: ${commands.join(" | ") || "none"})`);
  if (!listed) {
    await page.screenshot({ path: path.join(opt.results, "failure-palette.png") });
    return;
  }
  await page.keyboard.press("Enter");
  const after = await until(async () => {
    const text = await saveAndRead(page, before, 1000);
    return text !== before ? text : undefined;
  }, 120_000, 500);
  await page.screenshot({ path: path.join(opt.results, "vscode-continue-text.png") });
  const head = before.slice(0, offset);
  const tail = before.slice(offset);
  const inserted = after ? after.slice(offset, after.length - tail.length) : "";
  const continueOk = after !== undefined && after.length > before.length && after.startsWith(head) &&
    after.endsWith(tail) && inserted.length > 0;
  record("continue_text_inserted", continueOk, continueOk
    ? `inserted ${JSON.stringify(inserted)} at the end of line 1; the text before and after the cursor is unchanged`
    : after === undefined ? "the saved file did not change within 120 s"
      : `the saved file is ${JSON.stringify(after)}; expected ${JSON.stringify(head)} + new text + ${JSON.stringify(tail)}`,
  { inserted, file: after ?? before });

  // (d) Clicking the status bar item runs Detect Language; the item then shows the language.
  const detected = await detectFromStatusBar(page);
  const toast = await page.evaluate(() =>
    [...document.querySelectorAll(".notification-list-item-message")]
      .map((e) => e.textContent ?? "").find((t) => t.includes("QINet")) ?? "");
  record("detect_language_status_bar", Boolean(detected), detected
    ? `status bar "${detected}"; notification ${JSON.stringify(toast.trim())}`
    : `the status bar never showed a language after clicking it (notification: ${JSON.stringify(toast.trim())})`);

  // (e) QINet: Restart Server: a new server (the language is forgotten), which answers again.
  await page.keyboard.press("Escape");
  await page.click(".editor-instance .view-lines");
  const { listed: restartListed } = await findCommand(page, "QINet: Restart Server");
  if (restartListed) await page.keyboard.press("Enter");
  const restartSeen = new Set();
  const restarted = restartListed && await until(async () => {
    const text = (await statusBarText(page)).trim();
    if (text) restartSeen.add(text);
    return text === "QINet: ready" ? text : undefined;
  }, 120_000, 200);
  const again = restarted ? await detectFromStatusBar(page) : undefined;
  record("restart_server", Boolean(restarted && again), !restartListed
    ? `"QINet: Restart Server" not in the command palette`
    : !restarted ? `the status bar did not return to "QINet: ready" (seen: ${[...restartSeen].join(" → ")})`
      : again ? `restarted (status bar: ${[...restartSeen].join(" → ")}); the new server detects "${again}"`
        : "restarted, but Detect Language got no answer from the new server");
}

const browser = await chromium.launchPersistentContext(opt.profile ?? fs.mkdtempSync("/tmp/qinet-e2e-chromium-"), {
  executablePath: opt.chromium,
  headless: true,
  viewport: { width: 1100, height: 420 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("pageerror", (error) => log(`page error: ${error.message}`));
  await main(page);
} catch (error) {
  results.error = String(error?.stack ?? error);
  log(`ERROR ${results.error}`);
  try {
    await browser.pages()[0]?.screenshot({ path: path.join(opt.results, "failure.png") });
  } catch {}
} finally {
  const expected = ["status_bar_ready", "ghost_text_shown", "ghost_text_accepted", "completion_words",
    "completion_accepted", "continue_text_in_palette", "continue_text_inserted", "detect_language_status_bar", "restart_server"];
  for (const name of expected) {
    if (!(name in results.checks)) results.checks[name] = { ok: false, detail: "not reached" };
  }
  results.ok = !results.error && Object.values(results.checks).every((c) => c.ok);
  results.seconds = Math.round((Date.now() - t0) / 100) / 10;
  fs.writeFileSync(path.join(opt.results, "results.json"), JSON.stringify(results, null, 2) + "\n");
  await browser.close().catch(() => {});
}
process.exit(results.ok ? 0 : 1);
