// PUT /api/v1/account/locale against the REAL route handler and fresh databases (ADR 051): a user
// sets only their own language (the body cannot name another user), only a known language, never
// from another site; a refused request changes nothing. Every role may set its own (a viewer here).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db } from "@/lib/server/platform";
import { createToken, createUser, savedLocale } from "@/lib/server/identity";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { sessionCookie } from "@/lib/server/testing/session-cookie";
import { PUT } from "./route";

const SELF = "http://localhost:3000";
const FOREIGN = "http://localhost:8080";

describe.each(PROVIDERS)("the locale route on %s", (provider) => {
  let database: TestDatabase | undefined;
  const ids = { viewer: "", other: "" };
  let viewerToken = "";
  let cookie = "";
  const savedPublicUrl = process.env.POLYARCH_PUBLIC_URL;

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    process.env.POLYARCH_PUBLIC_URL = SELF;
    database = await useFreshDatabase(provider);
    for (const key of ["viewer", "other"] as const) {
      const email = `${key}@loc.test`;
      ids[key] = (await createUser({ email, name: key, role: "viewer", password: "member-password-1" })).id;
    }
    const viewer = { id: ids.viewer, email: "viewer@loc.test", name: "viewer", role: "viewer" as const };
    viewerToken = (await createToken({ ...viewer, via: "session" }, "t", 0, null)).token;
    cookie = await sessionCookie(authPost, SELF, "viewer@loc.test", "member-password-1");
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await releaseDatabase(database);
    if (savedPublicUrl === undefined) delete process.env.POLYARCH_PUBLIC_URL;
    else process.env.POLYARCH_PUBLIC_URL = savedPublicUrl;
  });

  async function put(body: unknown, how: "cookie" | "token" | "cross-site" | "anonymous", type = "application/json") {
    const headers = new Headers({ host: "localhost:3000", "content-type": type });
    if (how === "cookie" || how === "cross-site") headers.set("cookie", cookie);
    if (how === "cookie") headers.set("origin", SELF);
    if (how === "cross-site") headers.set("origin", FOREIGN);
    if (how === "token") headers.set("authorization", `Bearer ${viewerToken}`);
    const req = new Request(`${SELF}/api/v1/account/locale`, { method: "PUT", headers, body: JSON.stringify(body) });
    return PUT(req, { params: Promise.resolve({}) });
  }

  const locales = async () => ({
    viewer: await savedLocale({ id: ids.viewer }),
    other: await savedLocale({ id: ids.other }),
  });

  it("saves the caller's own language and sets the cookie", async () => {
    const res = await put({ locale: "zh-CN" }, "cookie");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ locale: "zh-CN" });
    expect(res.headers.get("set-cookie")).toMatch(/^locale=zh-CN;.*Path=\//i);
    expect(await locales()).toEqual({ viewer: "zh-CN", other: null });
    const byToken = await put({ locale: "en" }, "token");
    expect(byToken.status).toBe(200);
    expect(await locales()).toEqual({ viewer: "en", other: null });
  });

  it("refuses an unknown language, another user's id, cross-site and anonymous writes, changing nothing", async () => {
    const before = await locales();
    const cases: [unknown, Parameters<typeof put>[1], number, string?][] = [
      [{ locale: "fr" }, "cookie", 400],
      [{ locale: "zh" }, "cookie", 400],
      [{}, "cookie", 400],
      [{ locale: "zh-CN", userId: ids.other }, "cookie", 400],
      [{ locale: "zh-CN", id: ids.other }, "token", 400],
      [{ locale: "zh-CN" }, "cross-site", 403],
      [{ locale: "zh-CN" }, "cookie", 415, "text/plain;charset=UTF-8"],
      [{ locale: "zh-CN" }, "anonymous", 401],
    ];
    for (const [body, how, status, type] of cases) {
      const res = await put(body, how, type);
      expect(res.status, `${how} ${JSON.stringify(body)}`).toBe(status);
      if (status === 400) expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid");
    }
    expect(await locales()).toEqual(before);
    // A stale value in the column (a locale this build dropped) reads as "not chosen".
    await db().user.update({ where: { id: ids.other }, data: { locale: "xx" } });
    expect(await savedLocale({ id: ids.other })).toBeNull();
  });
});
