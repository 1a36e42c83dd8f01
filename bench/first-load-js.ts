// First-load JS of the VM pages (issue 16): the built console (ControllerProcess, as the fault tests start it)
// on a fresh SQLite database, Debian's Chromium through Playwright with the HTTP cache off (CDP
// Network.setCacheDisabled), one load per page until the network is idle; the transfer size of every script
// response (CDP loadingFinished.encodedDataLength: the gzip body plus its headers, what DevTools shows as
// "transferred") is summed. Reference, side by side: /login signed out, the framework floor every page pays
// (React, the Next router, the root layout). 1 kB = 1000 bytes.
//   node --conditions=react-server --import tsx bench/first-load-js.ts
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext } from "@playwright/test";
import playwrightConfig from "../playwright.config";
import { ADMIN, ControllerProcess, missingBuild } from "../lib/server/testing/fault-rig";
import { releaseDatabase, useFreshDatabase as freshDatabase } from "../lib/server/testing/server-db";
import { summarize } from "./summary";
import { printTable } from "./table";

const GOAL_KB = 150;
const FLOOR = "/login";
/** Each page with what must be on screen once it loaded: a page that failed to render proves nothing. */
const PAGES: { path: string; signedIn: boolean; shows: string }[] = [
  { path: FLOOR, signedIn: false, shows: "Sign in" },
  { path: "/vms", signedIn: true, shows: "Virtual machines" },
  { path: "/vms/new", signedIn: true, shows: "Create a virtual machine" },
];
const ROUNDS = 2;

/** Text only React Query's core carries (QueryClientProvider's error): marks the chunk that holds it. */
const REACT_QUERY_MARK = "No QueryClient set, use QueryClientProvider to set one";

interface Script {
  url: string;
  /** the chunk holds React Query's core (its body has REACT_QUERY_MARK) */
  reactQuery: boolean;
  /** bytes on the wire: headers + (gzip) body */
  transfer: number;
  /** the encoded body alone */
  body: number;
  encoding: string;
}
interface Load {
  path: string;
  scripts: Script[];
  transfer: number;
}

const kB = (bytes: number) => (bytes / 1000).toFixed(1);

/** Loads `pagePath` in a fresh tab with the cache off; every script response with its transfer size. */
async function loadPage(ctx: BrowserContext, pagePath: string, shows: string): Promise<Load> {
  const page = await ctx.newPage();
  try {
    const cdp = await ctx.newCDPSession(page);
    const seen = new Map<string, { url: string; headers: number; encoding: string }>();
    const scripts: Script[] = [];
    const bodies: Promise<void>[] = [];
    cdp.on("Network.responseReceived", (e) => {
      if (e.type !== "Script") return;
      const encoding = Object.entries(e.response.headers).find(([k]) => k.toLowerCase() === "content-encoding")?.[1];
      seen.set(e.requestId, {
        url: e.response.url,
        headers: e.response.encodedDataLength,
        encoding: encoding ?? "none",
      });
    });
    cdp.on("Network.loadingFinished", (e) => {
      const s = seen.get(e.requestId);
      if (!s) return;
      const script: Script = {
        url: s.url,
        reactQuery: false,
        transfer: e.encodedDataLength,
        body: e.encodedDataLength - s.headers,
        encoding: s.encoding,
      };
      scripts.push(script);
      bodies.push(
        cdp.send("Network.getResponseBody", { requestId: e.requestId }).then((r) => {
          const text = r.base64Encoded ? Buffer.from(r.body, "base64").toString("utf8") : r.body;
          script.reactQuery = text.includes(REACT_QUERY_MARK);
        }),
      );
    });
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    const res = await page.goto(pagePath, { waitUntil: "networkidle" });
    if (!res?.ok() || new URL(page.url()).pathname !== pagePath)
      throw new Error(`${pagePath}: answered ${res?.status()} at ${page.url()}`);
    await page.getByText(shows, { exact: false }).first().waitFor({ state: "visible", timeout: 15_000 });
    await Promise.all(bodies);
    await cdp.detach();
    scripts.sort((a, b) => b.transfer - a.transfer);
    return { path: pagePath, scripts, transfer: scripts.reduce((n, s) => n + s.transfer, 0) };
  } finally {
    await page.close();
  }
}

async function signedInContext(browser: Browser, baseURL: string): Promise<BrowserContext> {
  const ctx = await browser.newContext({ baseURL });
  const res = await ctx.request.post("/api/auth/sign-in/email", {
    data: { email: ADMIN.email, password: ADMIN.password },
  });
  if (res.status() !== 200) throw new Error(`admin sign-in answered ${res.status()}: ${await res.text()}`);
  return ctx;
}

/** Every page ROUNDS times (the sizes must not differ between loads); the last load of each. */
async function measure(baseURL: string): Promise<Map<string, Load>> {
  const browser = await chromium.launch(playwrightConfig.use?.launchOptions);
  try {
    const anonymous = await browser.newContext({ baseURL });
    const admin = await signedInContext(browser, baseURL);
    const loads = new Map<string, Load>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of PAGES) {
        const load = await loadPage(p.signedIn ? admin : anonymous, p.path, p.shows);
        const before = loads.get(p.path);
        if (before && Math.abs(before.transfer - load.transfer) > 200 * load.scripts.length)
          throw new Error(`${p.path}: ${before.transfer} then ${load.transfer} bytes of scripts: not a stable build?`);
        loads.set(p.path, load);
      }
    }
    return loads;
  } finally {
    await browser.close();
  }
}

function report(loads: Map<string, Load>): void {
  const floor = loads.get(FLOOR)!;
  const floorScripts = new Set(floor.scripts.map((s) => new URL(s.url).pathname));
  printTable(
    "First-load JS per page (Chromium, cache off; kB = 1000 bytes)",
    ["page", "scripts", "transfer kB", "body kB", "beyond the floor kB", "encodings"],
    [...loads.values()].map((l) => {
      const extra = l.scripts.filter((s) => !floorScripts.has(new URL(s.url).pathname));
      return [
        l.path,
        String(l.scripts.length),
        kB(l.transfer),
        kB(l.scripts.reduce((n, s) => n + s.body, 0)),
        l.path === FLOOR ? "-" : `${kB(extra.reduce((n, s) => n + s.transfer, 0))} (${extra.length} scripts)`,
        [...new Set(l.scripts.map((s) => s.encoding))].join(","),
      ];
    }),
  );
  printTable(
    "Scripts of each page (transfer kB; * = also on the floor page)",
    ["page", "script", "transfer kB", "body kB"],
    [...loads.values()].flatMap((l) =>
      l.scripts.map((s) => {
        const file = new URL(s.url).pathname;
        return [
          l.path,
          `${floorScripts.has(file) && l.path !== FLOOR ? "* " : ""}${path.basename(file)}${s.reactQuery ? " (React Query)" : ""}`,
          kB(s.transfer),
          kB(s.body),
        ];
      }),
    ),
  );
  // What every page loads (React, the Next router, the root layout): no page can weigh less.
  const onEvery = (file: string) =>
    [...loads.values()].every((l) => l.scripts.some((s) => new URL(s.url).pathname === file));
  const shared = floor.scripts.filter((s) => onEvery(new URL(s.url).pathname));
  const sharedBytes = shared.reduce((n, s) => n + s.transfer, 0);
  for (const p of PAGES.filter((x) => x.path !== FLOOR)) {
    const l = loads.get(p.path)!;
    const rq = l.scripts.filter((s) => s.reactQuery && !onEvery(new URL(s.url).pathname));
    const rqBytes = rq.reduce((n, s) => n + s.transfer, 0);
    const why =
      rq.length > 0
        ? `; the scripts on every page (React, the Next router, the root layout) are ${kB(sharedBytes)} kB, and ` +
          `with the chunk holding React Query's core (${kB(rqBytes)} kB, the console's data layer) ` +
          `${kB(sharedBytes + rqBytes)} kB before any page code`
        : "";
    summarize({
      measure: `first-load JS ${p.path} (gzip, Chromium, cache off)`,
      goal: `≤ ${GOAL_KB} kB`,
      now: `${kB(l.transfer)} kB`,
      reference: `framework floor (${FLOOR}) ${kB(floor.transfer)} kB`,
      ok: l.transfer <= GOAL_KB * 1000,
      ...(l.transfer > GOAL_KB * 1000
        ? {
            note: `${kB(l.transfer - floor.transfer)} kB beyond the floor (${FLOOR}, ${kB(floor.transfer)} kB)${why}`,
          }
        : {}),
    });
  }
}

export async function benchFirstLoadJs(): Promise<void> {
  const missing = missingBuild();
  if (missing) {
    console.log(`\nfirst-load JS benchmark: ${missing}: skipping`);
    for (const p of PAGES.filter((x) => x.path !== FLOOR))
      summarize({
        measure: `first-load JS ${p.path} (gzip, Chromium, cache off)`,
        goal: `≤ ${GOAL_KB} kB`,
        now: "not measured",
        reference: "-",
        ok: null,
        note: missing,
      });
    return;
  }
  const database = await freshDatabase("sqlite");
  let controller: ControllerProcess | null = null;
  try {
    controller = await ControllerProcess.start();
    report(await measure(controller.url));
  } finally {
    await controller?.stop();
    await releaseDatabase(database);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await benchFirstLoadJs();
  const { printSummary } = await import("./summary");
  printSummary();
}
