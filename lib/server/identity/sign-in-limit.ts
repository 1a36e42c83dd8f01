import "server-only";
// Per-account sign-in throttling (ADR 024). better-auth's rate limit counts per client address; an
// attacker with many addresses is stopped here, per email: every sign-in attempt is counted before the
// password is checked, a success clears the count, and after FREE_ATTEMPTS failures the email is
// refused (429, Retry-After) for BASE_DELAY_MS, doubling with each further failure up to MAX_DELAY_MS.
// Refused attempts are not counted, so the lock never outgrows MAX_DELAY_MS; an admin can lift it
// (unlockSignIn). The count is a Setting row, changed by compare-and-set, so controllers agree.
import { db, recordAudit, type Caller } from "../platform";
import { AppError } from "../../errors";

export const SIGN_IN_LIMIT = {
  /** failed attempts allowed before the first lock */
  freeAttempts: 5,
  baseDelayMs: 30_000,
  maxDelayMs: 15 * 60_000,
  /** an email's count is forgotten this long after its last attempt */
  forgetMs: 60 * 60_000,
} as const;

const PREFIX = "sign-in-attempts:";
type State = { attempts: number; lastAt: number };

export const normalizeEmail = (email: string) => email.trim().toLowerCase().slice(0, 320);
const keyFor = (email: string) => PREFIX + normalizeEmail(email);

/** How long an email with `attempts` uncleared attempts, the last at `lastAt`, is still refused at `now`. */
export function lockRemainingMs(state: State | null, now: number): number {
  if (!state || state.attempts < SIGN_IN_LIMIT.freeAttempts) return 0;
  const delay = Math.min(
    SIGN_IN_LIMIT.maxDelayMs,
    SIGN_IN_LIMIT.baseDelayMs * 2 ** (state.attempts - SIGN_IN_LIMIT.freeAttempts),
  );
  return Math.max(0, state.lastAt + delay - now);
}

function parse(value: string | undefined): State | null {
  try {
    const v = JSON.parse(value ?? "null") as Partial<State> | null;
    return v && Number.isSafeInteger(v.attempts) && Number.isFinite(v.lastAt) ? (v as State) : null;
  } catch {
    return null;
  }
}

/**
 * Counts one sign-in attempt for `email` unless the email is locked: then nothing is counted and the
 * answer says for how long (ms). Safe against concurrent attempts on this and other controllers.
 */
export async function takeSignInAttempt(email: string, now = Date.now()): Promise<{ lockedMs: number }> {
  const key = keyFor(email);
  for (let tries = 0; tries < 50; tries++) {
    const row = await db().setting.findUnique({ where: { key } });
    let state = parse(row?.value);
    if (state && now - state.lastAt > SIGN_IN_LIMIT.forgetMs) state = null;
    const lockedMs = lockRemainingMs(state, now);
    if (lockedMs > 0) return { lockedMs };
    const value = JSON.stringify({ attempts: (state?.attempts ?? 0) + 1, lastAt: now });
    if (!row) {
      try {
        await db().setting.create({ data: { key, value } });
        await forgetOld(now);
        return { lockedMs: 0 };
      } catch (error) {
        if ((error as { code?: unknown }).code === "P2002") continue; // another attempt wrote it first
        throw error;
      }
    }
    const changed = await db().setting.updateMany({ where: { key, value: row.value }, data: { value } });
    if (changed.count === 1) return { lockedMs: 0 };
  }
  throw new Error("the sign-in attempt counter kept changing under concurrent updates");
}

/** A successful sign-in clears its email's count. */
export async function clearSignInAttempts(email: string): Promise<void> {
  await db().setting.deleteMany({ where: { key: keyFor(email) } });
}

/** Counts for emails nobody tried for `forgetMs` (attempts on made-up emails must not pile up). */
async function forgetOld(now: number): Promise<void> {
  await db().setting.deleteMany({
    where: { key: { startsWith: PREFIX }, updatedAt: { lt: new Date(now - SIGN_IN_LIMIT.forgetMs) } },
  });
}

/** An admin lifts a user's sign-in lock (and forgets their failed attempts). The caller's permission is checked by the route/action. */
export async function unlockSignIn(userId: string, who: Caller): Promise<{ wasLocked: boolean }> {
  const user = await db().user.findUnique({ where: { id: userId }, select: { email: true } });
  if (!user) throw new AppError({ code: "not_found", message: "That user does not exist." });
  const row = await db().setting.findUnique({ where: { key: keyFor(user.email) } });
  const wasLocked = lockRemainingMs(parse(row?.value), Date.now()) > 0;
  await clearSignInAttempts(user.email);
  await recordAudit({
    actor: who.actor,
    action: "user.unlock-sign-in",
    result: "success",
    targetType: "user",
    targetId: userId,
    clientIp: who.clientIp,
    details: { wasLocked },
  });
  return { wasLocked };
}
