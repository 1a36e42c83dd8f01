import { test, expect } from "@playwright/test";

// Runs last: it exhausts this client's sign-in budget for a minute (POLYARCH_LOGIN_RATE_MAX=30 in e2e).
// The e2e server trusts no proxy (scripts/e2e-server.mjs), so every header a client could use to
// claim another address — X-Forwarded-For, X-Real-IP, our own x-polyarch-client-ip — is ignored
// (ADR 024): rotating them gets no fresh budget, per account or per client.
let n = 0;
const spoofed = () => {
  n++;
  const ip = `198.51.100.${(n % 250) + 1}`;
  return { "x-forwarded-for": ip, "x-real-ip": `203.0.113.${(n % 250) + 1}`, "x-polyarch-client-ip": ip };
};

test("one account is locked after 5 failures, whatever address each attempt claims", async ({ request }) => {
  for (let i = 0; i < 5; i++) {
    const res = await request.post("/api/auth/sign-in/email", {
      headers: spoofed(),
      data: { email: "locked@e2e.test", password: `guess-${i}-xyz` },
    });
    expect(res.status(), `attempt ${i + 1}`).toBe(401);
  }
  const res = await request.post("/api/auth/sign-in/email", {
    headers: spoofed(),
    data: { email: "locked@e2e.test", password: "guess-5-xyz" },
  });
  expect(res.status()).toBe(429);
  expect(Number(res.headers()["retry-after"])).toBeGreaterThan(0);
  expect((await res.json()).message).toMatch(/^Too many failed sign-ins for this account\. Try again in \d+ seconds/);
});

test("sign-in attempts are rate-limited per client, and rotating X-Forwarded-For does not escape it", async ({
  request,
}) => {
  let limited = false;
  for (let i = 0; i < 40 && !limited; i++) {
    // A new email each time: only the per-client limit can answer 429.
    const res = await request.post("/api/auth/sign-in/email", {
      headers: spoofed(),
      data: { email: `brute-${i}@e2e.test`, password: `guess-${i}-xyz` },
    });
    expect([401, 429]).toContain(res.status());
    limited = res.status() === 429;
    if (limited) expect((await res.json()).message).not.toMatch(/for this account/);
  }
  expect(limited).toBe(true);
});
