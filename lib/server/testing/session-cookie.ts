// Route tests sign a user in through better-auth's real handler and send its session cookie on
// browser-shaped requests (cross-site checks). The handler is passed in: lib/server sits below app/.
import { expect } from "vitest";

type AuthPost = (req: Request) => Promise<Response>;

/** Signs in by e-mail and password (same-site) and returns the `Cookie` header value of the session. */
export async function sessionCookie(
  authPost: AuthPost,
  self: string,
  email: string,
  password: string,
): Promise<string> {
  const res = await authPost(
    new Request(`${self}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { host: new URL(self).host, origin: self, "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    }),
  );
  expect(res.status).toBe(200);
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .filter((c) => c.includes("session_token="))
    .join("; ");
}
