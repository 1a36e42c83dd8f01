import "server-only";
// The only reader of process.env. Validated once; a bad value stops start-up with a clear message.
import { z } from "zod";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { trustedProxiesSchema } from "../../client-address";

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  POLYARCH_DATA_DIR: z.string().default("./data"),
  DATABASE_URL: z
    .string()
    .optional()
    .refine(
      (v) => !v || v.startsWith("file:") || /^postgres(ql)?:\/\//.test(v),
      "DATABASE_URL must be file:<path> or postgresql://…",
    ),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  POLYARCH_PUBLIC_URL: z.string().url().optional(),
  BETTER_AUTH_SECRET: z.string().min(32, "BETTER_AUTH_SECRET must be at least 32 characters").optional(),
  POLYARCH_ADMIN_EMAIL: z.string().email().optional(),
  POLYARCH_ADMIN_PASSWORD: z.string().min(8, "POLYARCH_ADMIN_PASSWORD must be at least 8 characters").optional(),
  POLYARCH_SECURE_COOKIES: z.enum(["true", "false", "auto"]).default("auto"),
  POLYARCH_HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(1000).default(20_000),
  /**
   * a host's lease (ADR 036): its agent fences (kills) its HA VMs when no heartbeat was acknowledged
   * for this long; the controller restarts them elsewhere only after it. 0 = no fencing, no HA restart
   */
  POLYARCH_HA_LEASE_MS: z.coerce
    .number()
    .int()
    .refine((v) => v === 0 || (v >= 1000 && v <= 3_600_000), "POLYARCH_HA_LEASE_MS is 0 (off) or 1000-3600000")
    .default(60_000),
  POLYARCH_JOIN_TOKEN: z.string().min(16, "POLYARCH_JOIN_TOKEN must be at least 16 characters").optional(),
  /** lifetime of join tokens created on the Hosts page (the bootstrap POLYARCH_JOIN_TOKEN does not expire) */
  POLYARCH_JOIN_TOKEN_TTL_HOURS: z.coerce
    .number()
    .min(0.01)
    .max(24 * 365)
    .default(24),
  POLYARCH_DEMO_IMAGES_DIR: z.string().optional(),
  /** new hosts join approved instead of pending (the local fleet of `npm run up`, e2e; ADR 025) */
  POLYARCH_AUTO_APPROVE_HOSTS: z
    .enum(["true", "false", ""])
    .default("false")
    .transform((v) => v === "true"),
  /** serve /api/agent/v1/* on the console port too (tests without the TLS port; ADR 025) */
  POLYARCH_AGENT_API_ON_CONSOLE_PORT: z
    .enum(["true", "false", ""])
    .default("false")
    .transform((v) => v === "true"),
  POLYARCH_LOGIN_RATE_MAX: z.coerce.number().int().min(1).default(10),
  /** an upload is aborted after this many seconds without a body byte; it has no total limit (server/main.ts; ADR 027) */
  POLYARCH_UPLOAD_IDLE_TIMEOUT_S: z.coerce.number().min(1).default(120),
  /** receiving any other request may take this long (Node's requestTimeout; server/main.ts) */
  POLYARCH_REQUEST_TIMEOUT_S: z.coerce.number().min(1).default(300),
  /** uploads one user may run at once, across all controllers (ADR 027) */
  POLYARCH_UPLOADS_PER_USER: z.coerce.number().int().min(1).default(2),
  /** free space the image store leaves on its filesystem (it shares the disk with the database) */
  POLYARCH_IMAGE_STORE_RESERVE_GB: z.coerce.number().min(0).default(2),
  /** image bytes per project when Project.imageQuotaBytes is unset; 0 = unlimited */
  POLYARCH_PROJECT_IMAGE_QUOTA_GB: z.coerce.number().min(0).default(0),
  /** the agent API over HTTPS (server/main.ts reads it too; 0 = off; docs/decisions/017-agent-tls.md) */
  POLYARCH_AGENT_TLS_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  /** extra names (DNS / IP, comma-separated) of the controller certificate agents verify; default: os.hostname() */
  POLYARCH_AGENT_TLS_NAMES: z.string().optional(),
  /**
   * proxies whose X-Forwarded-For is believed (comma-separated IPs/CIDRs; default none). The custom
   * server (server/client-address.ts) applies it; parsed here too so a bad value fails the same way.
   */
  POLYARCH_TRUSTED_PROXIES: trustedProxiesSchema,
});

export type Env = z.output<typeof schema> & { dataDir: string; databaseUrl: string; secret: string; publicUrl: string };

let cached: Env | undefined;

export function env(): Env {
  if (cached) return cached;
  const parsed = schema.safeParse(process.env);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n  ");
    throw new Error(`Invalid configuration:\n  ${msg}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.POLYARCH_DATA_DIR);
  // Private to this user: it holds the database, the secret below and the cluster CA key.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const databaseUrl = e.DATABASE_URL ?? `file:${join(dataDir, "polyarch.db")}`;
  cached = {
    ...e,
    dataDir,
    databaseUrl,
    secret: e.BETTER_AUTH_SECRET ?? persistedSecret(dataDir),
    publicUrl: e.POLYARCH_PUBLIC_URL ?? `http://localhost:${e.PORT}`,
  };
  return cached;
}

/** A per-install secret kept in the data dir, so sessions survive restarts without configuration. */
function persistedSecret(dataDir: string): string {
  const file = join(dataDir, "auth-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret, { mode: 0o600, flag: "wx" });
  return secret;
}

/** Tests point the server modules at a fresh database by changing process.env, then call this. */
export function resetEnvForTests(): void {
  cached = undefined;
}
