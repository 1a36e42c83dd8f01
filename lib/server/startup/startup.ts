import "server-only";
import { ensureFirstAdmin } from "../identity";
import { backfillDefaultProject } from "../projects";
import { sweepAbandonedUploads, sweepInterruptedUploads } from "../images";
import { registerDemoImages } from "../images";
import { applyConfiguredJoinToken, markStaleHostsOffline } from "../hosts";
import { logError, logInfo } from "../platform";
import { agentTlsForHost } from "../hosts";
import { ensurePki } from "../platform";
import { revokedConsoles, spendConsoleTicket } from "../consoles";
import { registerAppHooks } from "../../server-hooks";
import { env } from "../platform";
import { db, isPostgres } from "../platform";
import { startControllerLiveness, startPeriodicJob, withLease } from "../platform";
import { agentHeartbeatHook, sweepOrphanedTasks } from "../vms";
import { reconcileVms, recoverAbandonedMigrations, restartFencedHaVms } from "../mobility";
import { retryStaleFirewalls } from "../security-groups";
import { sweepStrayRouters, syncRouters } from "../routers";

const SWEEP_MS = 5_000;
/** Router sweeps (one a minute at the default period) between two that ask every host: about an hour. */
const FULL_ROUTER_SWEEP_EVERY = 60;

export async function onServerStart(): Promise<void> {
  // What the custom server (server/main.ts, a separate bundle in this process) needs from the app
  // and cannot have itself: the secret, the ticket store, agent TLS settings, the PKI. Each is
  // lazy, so the hooks work even if a start-up task below fails.
  registerAppHooks({
    controllerSecret: () => env().secret,
    spendConsoleTicket: (ticket, claims) => spendConsoleTicket(ticket, claims),
    recheckConsoles: (consoles) => revokedConsoles(consoles),
    agentTlsForHost,
    controllerPki: ensurePki,
    // The agent TLS listener answers heartbeats through this, past Next's request pipeline (ADR 043).
    agentHeartbeat: agentHeartbeatHook,
  });
  try {
    // WAL lets the console, migrations and tools read while one writer writes (SQLite only; persistent).
    if (!isPostgres()) await db().$queryRawUnsafe("PRAGMA journal_mode=WAL");
    // Several controllers may start together on one database: the one-shot cluster work runs
    // under a lease, one controller after the other (the second finds the admin, token, images).
    await withLease("startup", async () => {
      // VMs and users from before projects join the default project (lib/server/projects/projects.ts).
      await backfillDefaultProject();
      await ensureFirstAdmin();
      await applyConfiguredJoinToken(); // hashed (ADR 025); without POLYARCH_JOIN_TOKEN an admin rotates one
      if (env().POLYARCH_AUTO_APPROVE_HOSTS)
        logInfo(
          "hosts: POLYARCH_AUTO_APPROVE_HOSTS=true — hosts joining with the bootstrap token are approved without an admin",
        );
      const fixtures = env().POLYARCH_DEMO_IMAGES_DIR;
      if (fixtures) await registerDemoImages(fixtures);
    });
    // The cluster CA + controller certificate (created on the first start; docs/decisions/017-agent-tls.md).
    await ensurePki();
    // Uploads cut off by a restart leave rows in uploading/validating and stray files: remove them.
    await sweepInterruptedUploads();
  } catch (error) {
    logError("start-up tasks failed", error);
  }
  startControllerWork();
}

/**
 * This controller's share of the cluster's periodic work (docs/decisions/016-controller-leases.md):
 * a liveness lease, and each periodic job run only while holding its lease, so with several
 * controllers on one database every job still runs once per period cluster-wide. Timers are
 * unref'd so they never keep a stopping server alive.
 */
export function startControllerWork(
  opts: { everyMs?: number; ttlMs?: number; orphanSweep?: boolean; mobility?: boolean } = {},
): {
  stop(): Promise<void>;
} {
  const everyMs = opts.everyMs ?? SWEEP_MS;
  let routerSweeps = 0;
  const liveness = startControllerLiveness({ everyMs, ttlMs: opts.ttlMs });
  const jobs = [
    startPeriodicJob({ name: "offline-sweep", everyMs, ttlMs: opts.ttlMs, run: () => markStaleHostsOffline() }),
  ];
  if (opts.orphanSweep !== false)
    jobs.push(
      startPeriodicJob({
        name: "orphaned-tasks",
        everyMs: everyMs * 2,
        ttlMs: opts.ttlMs,
        run: () => sweepOrphanedTasks(),
      }),
      // Security-group changes that did not reach a host (offline, or the VM was moving): again once it answers.
      startPeriodicJob({
        name: "firewall-retry",
        everyMs: everyMs * 2,
        ttlMs: opts.ttlMs,
        run: () => retryStaleFirewalls(),
      }),
      // Routers and floating IPs follow the VMs (created, moved, deleted) and reach hosts that were away (ADR 059).
      startPeriodicJob({
        name: "router-sync",
        everyMs: everyMs * 2,
        ttlMs: opts.ttlMs,
        run: () => syncRouters(),
      }),
      // Routers a host still has that the controller no longer knows (deleted while the host was away):
      // the marked hosts every run; every answering host at the first run and once an hour (sync.ts).
      startPeriodicJob({
        name: "router-sweep",
        everyMs: everyMs * 12,
        ttlMs: opts.ttlMs,
        run: () => sweepStrayRouters({ all: routerSweeps++ % FULL_ROUTER_SWEEP_EVERY === 0 }),
      }),
      // Uploads of a controller that died just before this one started (its lease outlived the start-up sweep).
      startPeriodicJob({
        name: "abandoned-uploads",
        everyMs: everyMs * 2,
        ttlMs: opts.ttlMs,
        run: () => sweepAbandonedUploads(),
      }),
    );
  // VMs that move by themselves (issue 14, ADR 036): HA restarts after fencing, then bringing
  // desired state back on hosts that are up. `wait: false`: a run does not hold its lease while
  // new hosts boot the VMs (their tasks keep the next runs away from them). Migrations whose
  // controller died are settled with their target (HA and reconciliation skip a VM still migrating).
  if (opts.mobility !== false)
    jobs.push(
      startPeriodicJob({
        name: "migration-recovery",
        everyMs: everyMs * 2,
        ttlMs: opts.ttlMs,
        run: () => recoverAbandonedMigrations(),
      }),
      startPeriodicJob({
        name: "ha-restart",
        everyMs,
        ttlMs: opts.ttlMs,
        run: () => restartFencedHaVms({ wait: false }),
      }),
      startPeriodicJob({ name: "reconcile", everyMs, ttlMs: opts.ttlMs, run: () => reconcileVms({ wait: false }) }),
    );
  return {
    async stop() {
      await Promise.all(jobs.map((j) => j.stop()));
      await liveness.stop();
    },
  };
}
