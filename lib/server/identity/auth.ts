import "server-only";
// better-auth: password hashing, sessions, rate-limited sign-in. Roles live on the user row
// (admin plugin fields); Polyarch's own guard (guard.ts) decides what each role may do.
import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { admin } from "better-auth/plugins";
import { defaultAc } from "better-auth/plugins/admin/access";
import { nextCookies } from "better-auth/next-js";
import { APIError, createAuthMiddleware } from "better-auth/api";
import { db, isPostgres, ownOrigins } from "../platform";
import { env } from "../platform";
import { recordAudit, recordBoundedAudit } from "../platform";
import { CLIENT_ADDRESS_HEADER, clientIpFrom } from "../../client-address";
import { clearSignInAttempts, normalizeEmail, takeSignInAttempt } from "./sign-in-limit";

const adminRole = defaultAc.newRole({
  user: ["create", "list", "set-role", "ban", "delete", "set-password", "get", "update"],
  session: ["list", "revoke", "delete"],
});
const plainRole = defaultAc.newRole({ user: [], session: [] });

function secureCookies(): boolean {
  const setting = env().POLYARCH_SECURE_COOKIES;
  if (setting === "auto") return env().publicUrl.startsWith("https://");
  return setting === "true";
}

function createAuth() {
  const e = env();
  return betterAuth({
    appName: "Polyarch",
    baseURL: e.publicUrl,
    secret: e.secret,
    database: prismaAdapter(db(), { provider: isPostgres() ? "postgresql" : "sqlite" }),
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 8, maxPasswordLength: 256 },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    // Sign-up is admin-only (users page); the plugin's own admin endpoints are not exposed so
    // that every user change goes through Polyarch's guard and audit log.
    disabledPaths: [
      "/sign-up/email",
      "/admin/create-user",
      "/admin/set-role",
      "/admin/ban-user",
      "/admin/unban-user",
      "/admin/set-user-password",
      "/admin/remove-user",
      "/admin/update-user",
      "/admin/impersonate-user",
    ],
    rateLimit: {
      enabled: true,
      storage: "database",
      window: 60,
      max: 300,
      customRules: { "/sign-in/email": { window: 60, max: e.POLYARCH_LOGIN_RATE_MAX } },
    },
    advanced: {
      useSecureCookies: secureCookies(),
      defaultCookieAttributes: { httpOnly: true, sameSite: "lax" },
      // Per client address: the header the custom server sets from the socket (ADR 024), never one a
      // client can choose. Without the custom server in front (next dev) every client shares a bucket.
      ipAddress: { ipAddressHeaders: [CLIENT_ADDRESS_HEADER] },
      // Cross-site writes (ADR 023): a POST carrying the session cookie (sign-out, …) must have an
      // Origin (or Referer) in trustedOrigins, and sign-in with an Origin must too. These are
      // better-auth's defaults, except under NODE_ENV=test, where it would skip both; pinned so the
      // tests exercise what production runs.
      disableOriginCheck: false,
      disableCSRFCheck: false,
    },
    // The console is reached as localhost, 127.0.0.1 or the public URL: the origin the request
    // itself was sent to (same rule as the /api/v1 routes, lib/server/web/cross-site.ts), plus the public URL.
    trustedOrigins: (request) => (request ? [...ownOrigins(request, e.publicUrl)] : [e.publicUrl]),
    plugins: [
      admin({
        defaultRole: "viewer",
        adminRoles: ["admin"],
        roles: { admin: adminRole, operator: plainRole, viewer: plainRole },
      }),
      nextCookies(),
    ],
    hooks: {
      // Per account (sign-in-limit.ts): a locked email is refused before its password is checked.
      before: createAuthMiddleware(async (ctx) => {
        if (ctx.path !== "/sign-in/email" || typeof ctx.body?.email !== "string") return;
        const email = normalizeEmail(ctx.body.email);
        const { lockedMs } = await takeSignInAttempt(email);
        if (lockedMs === 0) return;
        const seconds = Math.ceil(lockedMs / 1000);
        await recordBoundedAudit({
          actor: { email: email.slice(0, 200) },
          action: "auth.sign-in",
          result: "denied",
          clientIp: ctx.request ? clientIpFrom(ctx.request.headers) : null,
          details: { reason: "account locked after repeated failed sign-ins", retryAfterSeconds: seconds },
        });
        throw new APIError(
          "TOO_MANY_REQUESTS",
          {
            code: "SIGN_IN_LOCKED",
            message: `Too many failed sign-ins for this account. Try again in ${seconds} seconds, or ask an administrator to unlock it.`,
          },
          { "Retry-After": String(seconds) },
        );
      }),
      after: createAuthMiddleware(async (ctx) => {
        if (ctx.path !== "/sign-in/email" && ctx.path !== "/sign-out") return;
        const returned = ctx.context.returned as unknown;
        const failed = returned instanceof Error || (returned instanceof Response && !returned.ok);
        const email = typeof ctx.body?.email === "string" ? normalizeEmail(ctx.body.email).slice(0, 200) : undefined;
        const session = ctx.context.newSession ?? ctx.context.session;
        const clientIp = ctx.request ? clientIpFrom(ctx.request.headers) : null;
        if (ctx.path === "/sign-in/email" && failed) {
          // Anyone can cause these: at most one row per address and minute (audit-bounded.ts).
          await recordBoundedAudit({
            actor: email ? { email } : null,
            action: "auth.sign-in",
            result: "denied",
            clientIp,
          });
          return;
        }
        if (ctx.path === "/sign-in/email" && email) await clearSignInAttempts(email);
        await recordAudit({
          actor: session ? { id: session.user.id, email: session.user.email } : email ? { email } : null,
          action: ctx.path === "/sign-in/email" ? "auth.sign-in" : "auth.sign-out",
          result: failed ? "denied" : "success",
          clientIp,
        });
      }),
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;
const globalForAuth = globalThis as unknown as { polyarchAuth?: Auth };

export function auth(): Auth {
  globalForAuth.polyarchAuth ??= createAuth();
  return globalForAuth.polyarchAuth;
}
