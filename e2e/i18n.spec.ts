// Languages (issue 17, ADR 051), in real Chromium against the built console: a browser that asks for
// zh-CN sees every console page and the sign-in page in Chinese — no raw message keys, no English UI
// words or sentences — switches to English in the sidebar, and keeps English across sign-out and
// sign-in (saved on the account, not only in the cookie); a fresh zh-CN browser signing in as that
// user sees English at once. The locale route refuses unknown languages, another user's id and
// cross-site writes. Records come from e2e/a11y-seed.ts; the user is made here through the API.
import Database from "better-sqlite3";
import { test, expect, type Browser, type Page } from "@playwright/test";
import { baseURL } from "../playwright.config";
import { storageStateFor } from "./helpers";
import { CONSOLE_PAGES, removeA11yRecords, seedA11yRecords } from "./a11y-seed";
import { E2E_DB } from "./seed";
import { flattenMessages, readMessages } from "../i18n/messages";

const USER = { email: "i18n.zh@e2e.test", password: "i18n-password-1", name: "i18n-tester" };
const OTHER = { email: "i18n.other@e2e.test", password: "i18n-password-2", name: "i18n-other" };
const ZH = { locale: "zh-CN", extraHTTPHeaders: { "accept-language": "zh-CN,zh;q=0.9" } } as const;

const TAGLINE_ZH = (readMessages("zh-CN").pages as { login: { tagline: string } }).login.tagline;
const TAGLINE_EN = (readMessages("en").pages as { login: { tagline: string } }).login.tagline;

/** Every message key as next-intl prints it when a message is missing ("pages.hosts.title"). */
const KEYS = [...flattenMessages(readMessages("en")).keys()];

/**
 * Text that may stay in Latin script on a Chinese page: seeded and created object names, e-mails, the
 * product, arch names, units, identifiers users type or the system generates (MACs, CIDRs, states sent
 * verbatim by the API are not here: the UI translates states).
 */
const ALLOWED = [
  // Data, not UI: a seeded task's error (a11y-seed.ts), the seeded user, the default project's description.
  /Host a11y-x86-host: qemu-img: \S+: No space left on device/g,
  /A11y Member/g,
  /Where new users and VMs from before projects belong\./g,
  // Server messages shown verbatim stay English (ADR 051): the console's "no agent" answer.
  /Host \S+ has no agent address yet\./g,
  /"stty [^"]*"/g, // a command to type in the guest
  /\S+@\S+\.\w+/g, // e-mail addresses
  /\ba11y[\w.-]*/gi, // seeded records (a11y-seed.ts)
  /\bi18n[\w.-]*/gi,
  /Intel Xeon Gold 6338/g,
  /\bdebian-12\S*/g,
  /\bPolyarch\b/g,
  /\b(x86_64|aarch64|KVM|TCG|QEMU|VLAN|IPv4|MAC|CIDR|VNC|NIC|API|UEFI|BIOS|OVS|Open vSwitch|SSH|HA|CPU|vCPUs?|ID|URL|UTC|qcow2|raw|iso)\b/g,
  /\b\d[\d.,:]*\s*(B|KiB|MiB|GiB|TiB|MB|GB|%|ms|s)?\b/g,
  /\bEnglish\b/g, // the switch lists each language in itself
  /\b[0-9a-f]{8,}\b/gi, // ids, fingerprints
];

/** UI words that must not appear (whole words) on a Chinese page once allowed text is removed. */
const UI_WORDS = [
  "Dashboard",
  "Hosts?",
  "Images?",
  "Virtual machines?",
  "Volumes?",
  "Networks?",
  "Tasks?",
  "Events",
  "Users?",
  "Projects?",
  "Instance types?",
  "Audit",
  "Account",
  "Sign (in",
  "out)",
  "Create",
  "Delete",
  "Edit",
  "Save",
  "Cancel",
  "Name",
  "Status",
  "Actions?",
  "Loading",
  "Search",
  "Filter",
  "Role",
  "Memory",
  "Disk",
  "Architecture",
  "Arch",
  "Running",
  "Stopped",
  "Failed",
  "Created",
  "Approve",
  "Reject",
  "Refresh",
  "Next",
  "Previous",
  "Page",
  "Size",
  "Details?",
  "Language",
  "Settings",
  "Members?",
  "Token",
  "Upload",
  "Attach",
  "Detach",
  "Grow",
  "Start",
  "Stop",
  "Reboot",
  "Console",
  "Serial",
  "Graphical",
  "none",
  "never",
  "ago",
  "yes",
  "no",
];
const ENGLISH_UI_WORDS = new RegExp(`\\b(${UI_WORDS.join("|")})\\b`);

/** Three or more Latin words in a row: an untranslated phrase or sentence. */
const ENGLISH_PHRASE = /\b[A-Za-z]{2,}(?:[ ,'-]+[A-Za-z]{2,}){2,}\b/;

async function visibleText(page: Page): Promise<string> {
  // Visible text plus what assistive tech reads (labels, placeholders, titles) and the tab title — but not
  // what the page marks translate="no": data other specs or agents put there (names, CPU models, audit
  // details, server messages kept in English by ADR 051), which a shared e2e database may hold.
  return page.evaluate(() => {
    for (const el of document.querySelectorAll<HTMLElement>('[translate="no"]')) el.style.display = "none";
    const attrs = [...document.querySelectorAll('[aria-label],[placeholder],[title]:not([translate="no"])')].flatMap(
      (el) => ["aria-label", "placeholder", "title"].map((a) => el.getAttribute(a) ?? ""),
    );
    return [document.title, document.body.innerText, ...attrs].join("\n");
  });
}

/**
 * The names of every stored object (hosts, VMs, images, …) as the pages would show them: data, not UI,
 * whichever spec or agent made them — read at the time of the check, so records other specs add to the
 * shared e2e database (a TLS spec's host, a fleet's VMs) never read as untranslated text.
 */
function storedNames(): string[] {
  const db = new Database(E2E_DB, { readonly: true, timeout: 10_000 });
  try {
    const tables = ["Host", "Vm", "Image", "Network", "Project", "SecurityGroup", "InstanceType", "Volume", "user"];
    const names = tables.flatMap((t) =>
      (db.prepare(`SELECT name FROM "${t}"`).all() as { name: string | null }[]).map((r) => r.name ?? ""),
    );
    const hostnames = (db.prepare(`SELECT hostname FROM "Vm"`).all() as { hostname: string | null }[]).map(
      (r) => r.hostname ?? "",
    );
    // longest first, so a name that contains another is removed whole
    return [...new Set([...names, ...hostnames])].filter((n) => n.length >= 3).sort((a, b) => b.length - a.length);
  } finally {
    db.close();
  }
}

/** The lines of the page that still read as English UI or show a raw key, for a readable failure. */
function untranslated(text: string, names: readonly string[] = []): string[] {
  const bad: string[] = [];
  for (const key of KEYS) if (text.includes(key)) bad.push(`raw key: ${key}`);
  for (const raw of text.split("\n")) {
    let line = raw;
    // the allowed sentences first: some name a seeded record themselves ("Host a11y-x86-host: …")
    for (const allowed of ALLOWED) line = line.replace(allowed, " ");
    for (const name of names) line = line.split(name).join(" ");
    if (ENGLISH_UI_WORDS.test(line) || ENGLISH_PHRASE.test(line)) bad.push(raw.trim().slice(0, 160));
  }
  return [...new Set(bad)];
}

async function settle(page: Page) {
  await expect(page.locator("h1").first()).toBeVisible();
  await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => undefined);
  await expect(page.getByText(/^(Loading|正在加载)/)).toHaveCount(0);
}

/** Signs in through the form by field names (its labels are in whichever language the page is). */
async function signInAnyLanguage(page: Page, who: { email: string; password: string }) {
  await page.goto("/login");
  await page.locator('input[name="email"]').fill(who.email);
  await page.locator('input[name="password"]').fill(who.password);
  await page.locator('button[type="submit"]').click();
  await expect(page.getByTestId("current-user")).toBeVisible();
}

async function zhContext(browser: Browser) {
  return browser.newContext({ ...ZH, storageState: { cookies: [], origins: [] } });
}

const createdUsers: string[] = [];

test.describe.serial("languages", () => {
  test.beforeAll(async ({ playwright }) => {
    seedA11yRecords(3);
    const api = await playwright.request.newContext({ baseURL, storageState: storageStateFor("admin") });
    for (const u of [USER, OTHER]) {
      const res = await api.post("/api/v1/users", { data: { ...u, role: u === USER ? "admin" : "viewer" } });
      expect(res.status(), await res.text()).toBe(201);
      createdUsers.push((await res.json()).id);
    }
    await api.dispose();
  });

  test.afterAll(() => {
    removeA11yRecords();
    // The product disables users rather than deleting them; the spec's own users go, as a11y-seed's do,
    // so specs that count users see what they saw before (sessions and accounts cascade).
    const db = new Database(E2E_DB, { timeout: 10_000 });
    try {
      db.prepare(`DELETE FROM "user" WHERE email IN (?, ?)`).run(USER.email, OTHER.email);
    } finally {
      db.close();
    }
  });

  test("Accept-Language zh-CN: the sign-in page and every console page are in Chinese", async ({ browser }) => {
    const ctx = await zhContext(browser);
    const page = await ctx.newPage();
    await page.goto("/login");
    await expect(page.locator("html")).toHaveAttribute("lang", "zh-CN");
    await expect(page.getByText(TAGLINE_ZH)).toBeVisible();
    // Collected over every page, so one run lists everything still in English.
    const problems = untranslated(await visibleText(page)).map((line) => `/login: ${line}`);

    await signInAnyLanguage(page, USER);
    for (const path of [...CONSOLE_PAGES, "/vms/new", "/no-such-page"]) {
      await page.goto(path);
      await settle(page);
      await expect(page.locator("html")).toHaveAttribute("lang", "zh-CN");
      problems.push(...untranslated(await visibleText(page), storedNames()).map((line) => `${path}: ${line}`));
    }
    expect(problems, `English or raw keys on zh-CN pages:\n${problems.join("\n")}`).toEqual([]);
    await ctx.close();
  });

  test("switching to English in the sidebar is saved on the account and survives sign-out and sign-in", async ({
    browser,
  }) => {
    const ctx = await zhContext(browser);
    const page = await ctx.newPage();
    await signInAnyLanguage(page, USER);
    await page.goto("/hosts");
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("宿主机");
    await page.getByTestId("language-switch").selectOption("en");
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Hosts");
    await expect(page.locator("html")).toHaveAttribute("lang", "en");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login/);
    // The cookie the switch set keeps the sign-in page in English…
    await expect(page.getByText(TAGLINE_EN)).toBeVisible();
    // …and without it the page follows Accept-Language again, until the saved choice applies at sign-in.
    await ctx.clearCookies();
    await page.goto("/login");
    await expect(page.getByText(TAGLINE_ZH)).toBeVisible();
    await signInAnyLanguage(page, USER);
    await page.goto("/hosts");
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Hosts");
    await expect(page.locator("html")).toHaveAttribute("lang", "en");
    await ctx.close();
  });

  test("a fresh zh-CN browser signing in as a user whose saved language is English sees English", async ({
    browser,
  }) => {
    const ctx = await zhContext(browser);
    const page = await ctx.newPage();
    await page.goto("/login");
    await expect(page.locator("html")).toHaveAttribute("lang", "zh-CN");
    await signInAnyLanguage(page, USER);
    await page.goto("/");
    await expect(page.locator("html")).toHaveAttribute("lang", "en");
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Dashboard");
    await ctx.close();
  });

  test("the sign-in page's switch changes the language before sign-in, and it sticks", async ({ browser }) => {
    const ctx = await zhContext(browser);
    const page = await ctx.newPage();
    await page.goto("/login");
    await expect(page.getByText(TAGLINE_ZH)).toBeVisible();
    await page.getByTestId("language-switch").selectOption("en");
    await expect(page.getByText(TAGLINE_EN)).toBeVisible();
    await expect(page.locator("html")).toHaveAttribute("lang", "en");
    await page.reload();
    await expect(page.getByText(TAGLINE_EN)).toBeVisible();
    await ctx.close();
  });

  test("the locale route: own account only, known languages only, same-site only", async ({ playwright }) => {
    const other = await playwright.request.newContext({ baseURL, extraHTTPHeaders: ZH.extraHTTPHeaders });
    const signIn = await other.post("/api/auth/sign-in/email", { data: OTHER });
    expect(signIn.status()).toBe(200);
    const url = "/api/v1/account/locale";
    // A viewer sets their own language.
    const ok = await other.put(url, { data: { locale: "zh-CN" } });
    expect(ok.status(), await ok.text()).toBe(200);
    expect(ok.headers()["set-cookie"]).toContain("locale=zh-CN");
    // Unknown language, and a body that names another user: refused by the strict schema.
    for (const data of [
      { locale: "fr" },
      { locale: "en", userId: createdUsers[0] },
      { locale: "en", id: createdUsers[0] },
    ]) {
      const res = await other.put(url, { data });
      expect(res.status(), JSON.stringify(data)).toBe(400);
    }
    // Cross-site (another origin's page posting with the cookie): refused before anything is read.
    const cross = await other.put(url, { data: { locale: "en" }, headers: { origin: "http://evil.example" } });
    expect(cross.status()).toBe(403);
    // Signed out: 401.
    const anon = await playwright.request.newContext({ baseURL });
    expect((await anon.put(url, { data: { locale: "en" } })).status()).toBe(401);
    await anon.dispose();
    // None of that changed anything: OTHER is still zh-CN, USER (switched to English above) still en.
    const page = await other.get("/");
    expect(await page.text()).toContain('lang="zh-CN"');
    const user = await playwright.request.newContext({ baseURL, extraHTTPHeaders: ZH.extraHTTPHeaders });
    expect((await user.post("/api/auth/sign-in/email", { data: USER })).status()).toBe(200);
    expect(await (await user.get("/")).text()).toContain('lang="en"');
    await user.dispose();
    await other.dispose();
  });
});
