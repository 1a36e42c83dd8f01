// Sign-in throttling (ADR 024) against better-auth's REAL handler and a fresh database. Each request
// carries the client-address header as the custom server sets it from the socket
// (server/client-address.ts), plus a random X-Forwarded-For that must change nothing:
//   - per address: POLYARCH_LOGIN_RATE_MAX attempts a minute, keyed on our header, not X-Forwarded-For;
//   - per account: after SIGN_IN_LIMIT.freeAttempts failures, from however many addresses, the email is
//     refused (429 + Retry-After) for 30 s, doubling per further failure up to 15 min; a success before
//     that clears the count; an admin can lift the lock (unlockSignIn);
//   - failed sign-ins are audited with the trustworthy address, at a bounded rate.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createUser, SIGN_IN_LIMIT, unlockSignIn } from "@/lib/server/identity";
import { CLIENT_ADDRESS_HEADER } from "@/lib/client-address";
import { POST as authPost } from "@/app/api/auth/[...all]/route";

const SELF = "http://localhost:3000";
const PASSWORD = "right-password-1";

let next = 0;
/** A new client address each call (as from a new socket). */
const freshAddress = () => `198.51.${Math.floor(++next / 250)}.${(next % 250) + 1}`;
const randomXff = () => `${Math.floor(Math.random() * 223) + 1}.${next % 255}.7.${Math.floor(Math.random() * 254) + 1}`;

function signIn(email: string, password: string, address: string) {
  return authPost(
    new Request(`${SELF}/api/auth/sign-in/email`, {
      method: "POST",
      headers: {
        host: "localhost:3000",
        origin: SELF,
        "content-type": "application/json",
        [CLIENT_ADDRESS_HEADER]: address,
        "x-forwarded-for": randomXff(),
        "x-real-ip": randomXff(),
      },
      body: JSON.stringify({ email, password }),
    }),
  );
}

describe.each(PROVIDERS)("sign-in limits on %s", (provider) => {
  let database: TestDatabase | undefined;
  const saved = { url: process.env.POLYARCH_PUBLIC_URL, max: process.env.POLYARCH_LOGIN_RATE_MAX };
  let admin: Actor;

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {}); // better-auth: "Invalid password", …
    process.env.POLYARCH_PUBLIC_URL = SELF;
    process.env.POLYARCH_LOGIN_RATE_MAX = "10";
    database = await useFreshDatabase(provider);
    const { id } = await createUser({ email: "admin@limits.test", name: "Admin", role: "admin", password: PASSWORD });
    admin = { id, email: "admin@limits.test", name: "Admin", role: "admin", via: "session" };
    for (const email of ["alice@limits.test", "bob@limits.test", "carol@limits.test"])
      await createUser({ email, name: email, role: "viewer", password: PASSWORD }, { actor: admin, clientIp: null });
  });

  afterAll(async () => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    process.env.POLYARCH_PUBLIC_URL = saved.url;
    if (saved.max === undefined) delete process.env.POLYARCH_LOGIN_RATE_MAX;
    else process.env.POLYARCH_LOGIN_RATE_MAX = saved.max;
    await releaseDatabase(database);
  });

  it("rotating client addresses does not get past the per-account limit", async () => {
    for (let i = 0; i < SIGN_IN_LIMIT.freeAttempts; i++) {
      const res = await signIn("alice@limits.test", `wrong-${i}-password`, freshAddress());
      expect(res.status, `attempt ${i + 1}`).toBe(401);
    }
    for (let i = 0; i < 9; i++) {
      const res = await signIn("Alice@Limits.test", `wrong-more-${i}`, freshAddress());
      expect(res.status, `attempt ${SIGN_IN_LIMIT.freeAttempts + i + 1}`).toBe(429);
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(30);
      const body = await res.json();
      expect(body.code).toBe("SIGN_IN_LOCKED"); // components/login-form.tsx shows its message
      expect(body.message).toMatch(
        /^Too many failed sign-ins for this account\. Try again in \d+ seconds, or ask an administrator to unlock it\.$/,
      );
    }
    // While locked, even the right password is refused (it must not tell a guess from the password).
    expect((await signIn("alice@limits.test", PASSWORD, freshAddress())).status).toBe(429);
    // Other accounts are not affected.
    expect((await signIn("bob@limits.test", PASSWORD, freshAddress())).status).toBe(200);
  });

  it("the real user signs in before the bucket trips, and that clears the count", async () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < SIGN_IN_LIMIT.freeAttempts - 1; i++)
        expect((await signIn("carol@limits.test", `wrong-${round}-${i}`, freshAddress())).status).toBe(401);
      expect((await signIn("carol@limits.test", PASSWORD, freshAddress())).status, `round ${round}`).toBe(200);
    }
  });

  it("the lock doubles with each failure after it, up to 15 minutes, and an admin can lift it", async () => {
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    try {
      const email = "admin@limits.test";
      for (let i = 0; i < SIGN_IN_LIMIT.freeAttempts; i++)
        expect((await signIn(email, `wrong-${i}`, freshAddress())).status).toBe(401);
      let expected = 30;
      for (let step = 0; step < 7; step++) {
        const locked = await signIn(email, PASSWORD, freshAddress());
        expect(locked.status).toBe(429);
        expect(Number(locked.headers.get("retry-after")), `lock ${step + 1}`).toBe(expected);
        vi.setSystemTime(Date.now() + expected * 1000 + 1000);
        expect((await signIn(email, `wrong-again-${step}`, freshAddress())).status).toBe(401);
        expected = Math.min(expected * 2, 15 * 60);
      }
      expect(expected).toBe(15 * 60);
      const locked = await signIn(email, PASSWORD, freshAddress());
      expect(Number(locked.headers.get("retry-after"))).toBe(15 * 60);

      await expect(unlockSignIn(admin.id, { actor: admin, clientIp: "192.0.2.1" })).resolves.toEqual({
        wasLocked: true,
      });
      expect((await signIn(email, PASSWORD, freshAddress())).status).toBe(200);
      const unlock = await db().auditEvent.findFirst({ where: { action: "user.unlock-sign-in", targetId: admin.id } });
      expect(unlock).toMatchObject({ result: "success", userId: admin.id, clientIp: "192.0.2.1" });
    } finally {
      vi.useRealTimers();
    }
  });

  it("the per-address limit keys on the server's header, not on X-Forwarded-For", async () => {
    const max = 10;
    const address = "203.0.113.50";
    // Different (unknown) emails: only the per-address limit can answer 429 here.
    for (let i = 0; i < max; i++)
      expect((await signIn(`nobody-${i}@limits.test`, "wrong-password", address)).status, `attempt ${i + 1}`).toBe(401);
    const limited = await signIn("nobody-x@limits.test", "wrong-password", address);
    expect(limited.status).toBe(429);
    // Another client (another socket) still has its own budget: the real admin is not locked out.
    expect((await signIn("bob@limits.test", PASSWORD, "203.0.113.51")).status).toBe(200);
  });

  it("failed sign-ins are audited with the trustworthy address, at a bounded rate", async () => {
    const address = "203.0.113.60";
    // A minute of its own: the tests above used more addresses in theirs than one minute records apart.
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 24 * 3600_000 });
    for (let i = 0; i < 3; i++) await signIn("ghost@limits.test", `wrong-${i}`, address);
    vi.useRealTimers();
    const rows = await db().auditEvent.findMany({ where: { action: "auth.sign-in", clientIp: address } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ result: "denied", userEmail: "ghost@limits.test" });
    expect(JSON.parse(rows[0]?.details ?? "{}")).toMatchObject({ attempts: 3 });
    // No row anywhere names an address the client chose.
    const all = await db().auditEvent.findMany({ where: { action: "auth.sign-in" }, select: { clientIp: true } });
    for (const row of all) expect(row.clientIp ?? "203.0.113.1").toMatch(/^(198\.51|203\.0\.113)\./);
  });
});
