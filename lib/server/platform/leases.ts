import "server-only";
// Several controllers on one database: cluster-wide leases so periodic work runs in one controller
// at a time and a liveness lease per controller (vms/provision.ts fails the tasks a dead controller
// left running). See docs/decisions/016-controller-leases.md.
//
// A lease is one row (Lease: name, holder, expiresAtMs, fencing). It is taken or renewed with ONE
// conditional INSERT … ON CONFLICT DO UPDATE … WHERE (same SQL on SQLite and PostgreSQL): the row
// changes only when the caller already holds it or it has expired. Times are the database's clock
// (ms since the epoch), so controllers with skewed clocks never disagree about expiry; the holder
// trusts its lease only until (its own monotonic send time + ttl − margin), which always ends before
// the database lets anyone else take it.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { Prisma } from "../../generated/sqlite/client";
import { db, isPostgres, type Db } from "./db";
import { logError, logInfo } from "./log";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

const globalForLeases = globalThis as unknown as { polyarchControllerId?: string };

/** This controller process's instance id: hostname:pid:random (a restarted controller is a new instance). */
export function controllerId(): string {
  globalForLeases.polyarchControllerId ??= `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  return globalForLeases.polyarchControllerId;
}

/** The database clock in ms since the epoch, as an SQL expression (SQLite: julianday has ~20 µs resolution). */
function nowSql(): Prisma.Sql {
  return isPostgres()
    ? Prisma.raw(`(extract(epoch from clock_timestamp()) * 1000)::bigint`)
    : Prisma.raw(`CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)`);
}

export async function dbNowMs(): Promise<number> {
  const rows = await db().$queryRaw<{ now: bigint | number }[]>(Prisma.sql`SELECT ${nowSql()} AS "now"`);
  return Number(rows[0]!.now);
}

export type LeaseState =
  | {
      held: true;
      name: string;
      holder: string;
      fencing: number;
      expiresAtMs: number;
      /** performance.now() until which this process may act on it */ validUntil: number;
    }
  | { held: false; name: string; holder: string | null; fencing: number; expiresAtMs: number };

/** Share of the ttl the holder gives up at the end, covering the request's own latency and timer drift. */
const SAFETY = 0.2;

/**
 * Takes `name` for `holder` or renews it, for `ttlMs` from now (database clock). Returns held:false,
 * with the current holder, when someone else holds an unexpired lease. The fencing token grows
 * whenever the lease changes hands, so a later holder always has a larger token.
 */
export async function acquireLease(name: string, ttlMs: number, holder = controllerId()): Promise<LeaseState> {
  const sent = performance.now();
  const ttl = BigInt(Math.max(1, Math.round(ttlMs)));
  const now = nowSql();
  const rows = await db().$queryRaw<{ fencing: number | bigint; expiresAtMs: number | bigint }[]>(Prisma.sql`
    INSERT INTO "Lease" ("name", "holder", "acquiredAtMs", "renewedAtMs", "expiresAtMs", "fencing", "runs")
    VALUES (${name}, ${holder}, ${now}, ${now}, ${now} + ${ttl}, 1, 0)
    ON CONFLICT ("name") DO UPDATE SET
      "fencing" = CASE WHEN "Lease"."holder" = excluded."holder" THEN "Lease"."fencing" ELSE "Lease"."fencing" + 1 END,
      "acquiredAtMs" = CASE WHEN "Lease"."holder" = excluded."holder" THEN "Lease"."acquiredAtMs" ELSE excluded."acquiredAtMs" END,
      "holder" = excluded."holder",
      "renewedAtMs" = excluded."renewedAtMs",
      "expiresAtMs" = excluded."expiresAtMs"
    WHERE "Lease"."holder" = excluded."holder" OR "Lease"."expiresAtMs" <= excluded."renewedAtMs"
    RETURNING "fencing", "expiresAtMs"`);
  const row = rows[0];
  if (row) {
    return {
      held: true,
      name,
      holder,
      fencing: Number(row.fencing),
      expiresAtMs: Number(row.expiresAtMs),
      validUntil: sent + Number(ttl) * (1 - SAFETY),
    };
  }
  const current = await db().lease.findUnique({ where: { name } });
  return {
    held: false,
    name,
    holder: current?.holder ?? null,
    fencing: current?.fencing ?? 0,
    expiresAtMs: Number(current?.expiresAtMs ?? 0),
  };
}

/** Gives the lease up at once (a stopping controller), so another controller need not wait for expiry. */
export async function releaseLease(name: string, holder = controllerId()): Promise<void> {
  await db().lease.updateMany({ where: { name, holder }, data: { expiresAtMs: 0 } });
}

/**
 * Records the start of one run of job `name`, only if `holder` still holds the lease with this
 * fencing token (database clock) and the job's previous run — by any controller — started at least
 * `minIntervalMs` ago. Returns the JobRun id, or null when the run must be skipped.
 */
export async function claimRun(
  name: string,
  fencing: number,
  minIntervalMs: number,
  holder = controllerId(),
): Promise<string | null> {
  const now = nowSql();
  const interval = BigInt(Math.max(0, Math.round(minIntervalMs)));
  return db().$transaction(async (tx: Tx) => {
    const rows = await tx.$queryRaw<{ runs: number | bigint; lastRunAtMs: number | bigint }[]>(Prisma.sql`
      UPDATE "Lease" SET "runs" = "runs" + 1, "lastRunAtMs" = ${now}
      WHERE "name" = ${name} AND "holder" = ${holder} AND "fencing" = ${fencing} AND "expiresAtMs" > ${now}
        AND ("lastRunAtMs" IS NULL OR "lastRunAtMs" <= ${now} - ${interval})
      RETURNING "runs", "lastRunAtMs"`);
    const row = rows[0];
    if (!row) return null;
    const startedAtMs = BigInt(row.lastRunAtMs);
    // Keep a day of history; pruned every 100 runs so the table stays small.
    if (Number(row.runs) % 100 === 0)
      await tx.jobRun.deleteMany({ where: { job: name, startedAtMs: { lt: startedAtMs - 86_400_000n } } });
    const run = await tx.jobRun.create({ data: { job: name, holder, fencing, startedAtMs } });
    return run.id;
  });
}

export async function finishRun(id: string, ok: boolean, error?: string): Promise<void> {
  const now = await dbNowMs();
  await db().jobRun.update({ where: { id }, data: { ok, error: error ?? null, finishedAtMs: BigInt(now) } });
}

export type PeriodicJob = { name: string; stop(): Promise<void>; state(): LeaseState | null };

/**
 * Runs `run` about every `everyMs`, cluster-wide once: every controller ticks, renews or tries to
 * take the job's lease, and only the holder runs it (at most once per 0.8 × everyMs, enforced by the
 * database). A killed holder's lease expires after `ttlMs` (default 3 × everyMs, at least 3 s) and
 * the next tick of another controller takes it over.
 */
export function startPeriodicJob(opts: {
  name: string;
  everyMs: number;
  ttlMs?: number;
  run: () => Promise<unknown>;
  holder?: string;
}): PeriodicJob {
  const { name, everyMs, run } = opts;
  const holder = opts.holder ?? controllerId();
  const ttlMs = opts.ttlMs ?? Math.max(3 * everyMs, 3_000);
  let state: LeaseState | null = null;
  let stopped = false;
  let running: Promise<void> | null = null;
  let ticking: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let wasHolder = false;

  const execute = async (fencing: number) => {
    const runId = await claimRun(name, fencing, everyMs * 0.8, holder);
    if (!runId) return;
    try {
      await run();
      await finishRun(runId, true);
    } catch (error) {
      logError(`periodic job ${name} failed`, error);
      await finishRun(runId, false, error instanceof Error ? error.message : String(error));
    }
  };

  const tick = async () => {
    try {
      state = await acquireLease(name, ttlMs, holder);
    } catch (error) {
      state = null;
      logError(`lease ${name}: renewal failed`, error);
    }
    const held = state?.held === true && performance.now() < state.validUntil;
    if (held !== wasHolder)
      logInfo(held ? "lease acquired" : "lease lost", { lease: name, holder, fencing: state?.fencing });
    wasHolder = held;
    if (held && !running && !stopped && state?.held) {
      running = execute(state.fencing)
        .catch((error) => logError(`periodic job ${name}: run bookkeeping failed`, error))
        .finally(() => {
          running = null;
        });
    }
  };

  const loop = () => {
    if (stopped) return;
    ticking = tick().finally(() => {
      ticking = null;
      if (!stopped) timer = setTimeout(loop, everyMs).unref();
    });
  };
  loop();

  return {
    name,
    state: () => state,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await ticking;
      await running;
      await releaseLease(name, holder).catch(() => undefined);
    },
  };
}

/**
 * Runs `fn` while holding lease `name` (one-shot start-up work, serialized across controllers that
 * start together); waits up to `waitMs` for another holder. The lease is renewed while fn runs.
 */
export async function withLease<T>(
  name: string,
  fn: () => Promise<T>,
  opts: { ttlMs?: number; waitMs?: number; holder?: string } = {},
): Promise<T> {
  const ttlMs = opts.ttlMs ?? 30_000;
  const holder = opts.holder ?? controllerId();
  const deadline = performance.now() + (opts.waitMs ?? 120_000);
  for (;;) {
    const lease = await acquireLease(name, ttlMs, holder);
    if (lease.held) break;
    if (performance.now() > deadline) throw new Error(`lease ${name} is held by ${lease.holder}; gave up waiting`);
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
  }
  const renew = setInterval(() => void acquireLease(name, ttlMs, holder).catch(() => undefined), ttlMs / 3);
  renew.unref();
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await releaseLease(name, holder).catch(() => undefined);
  }
}

// -------------------------------------------------------------------------- controller liveness

export const CONTROLLER_LEASE_PREFIX = "controller:";

const liveness = globalThis as unknown as { polyarchLivenessActive?: boolean };

/** The instance id to stamp on tasks: set only in a process that keeps a liveness lease (a controller). */
export function activeControllerId(): string | null {
  return liveness.polyarchLivenessActive ? controllerId() : null;
}

/**
 * Keeps `controller:<instance id>` alive while this process runs (renewed every everyMs). Tasks
 * record the instance id of the controller running them; when that lease has expired the
 * controller is gone and sweepOrphanedTasks fails its running tasks.
 */
export function startControllerLiveness(opts: { everyMs: number; ttlMs?: number; holder?: string }): {
  stop(): Promise<void>;
} {
  const holder = opts.holder ?? controllerId();
  const name = CONTROLLER_LEASE_PREFIX + holder;
  const ttlMs = opts.ttlMs ?? Math.max(3 * opts.everyMs, 3_000);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pending: Promise<unknown> | null = null;
  const loop = () => {
    if (stopped) return;
    pending = acquireLease(name, ttlMs, holder)
      // Tasks are stamped only once the lease row exists, so no sweep can take a new task for an orphan.
      .then((lease) => {
        if (lease.held && !stopped && holder === controllerId()) liveness.polyarchLivenessActive = true;
      })
      .catch((error) => logError("controller liveness lease: renewal failed", error))
      .finally(() => {
        pending = null;
        if (!stopped) timer = setTimeout(loop, opts.everyMs).unref();
      });
  };
  loop();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pending;
      if (holder === controllerId()) liveness.polyarchLivenessActive = false;
      await releaseLease(name, holder).catch(() => undefined);
    },
  };
}

/** Is the controller with this instance id still alive (its liveness lease unexpired)? */
export async function liveControllers(ids: string[], nowMs: number): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db().lease.findMany({
    where: { name: { in: ids.map((id) => CONTROLLER_LEASE_PREFIX + id) }, expiresAtMs: { gt: BigInt(nowMs) } },
    select: { holder: true },
  });
  return new Set(rows.map((r) => r.holder));
}
