import { test, expect } from "@playwright/test";

// Runs last: it exhausts this client's sign-in budget for a minute (POLYARCH_LOGIN_RATE_MAX=30 in e2e).
test("sign-in attempts are rate-limited per client", async ({ request }) => {
  let limited = false;
  for (let i = 0; i < 40 && !limited; i++) {
    const res = await request.post("/api/auth/sign-in/email", {
      data: { email: "brute@e2e.test", password: `guess-${i}-xyz` },
    });
    expect([401, 429]).toContain(res.status());
    limited = res.status() === 429;
  }
  expect(limited).toBe(true);
});
