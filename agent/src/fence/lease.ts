// The host's HA lease (ADR 036) as the agent writes it and the fence watchdog reads it:
// <stateDir>/fence/lease.json holds a CLOCK_MONOTONIC deadline. Monotonic because a wall clock
// that steps (NTP, an operator) must neither fence early nor keep fenced VMs running late;
// process.hrtime.bigint() reads CLOCK_MONOTONIC, which is one clock for every process of a boot
// (also under qemu-user, which passes clock_gettime through to the host kernel). The boot id ties
// the deadline to the boot it was measured in.
import { promises as fsp, readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

/** the bundle's subcommand that runs the watchdog: node agent.mjs fence-watchdog --state-dir DIR */
export const WATCHDOG_COMMAND = "fence-watchdog";
export const FENCE_DIR = "fence";
export const LEASE_FILE = "lease.json";
export const FENCED_FILE = "fenced.json";
export const WATCHDOG_PID_FILE = "watchdog.pid";
export const WATCHDOG_LOG_FILE = "watchdog.log";

export const fenceDirOf = (stateDir: string): string => path.join(stateDir, FENCE_DIR);
export const leaseFileOf = (stateDir: string): string => path.join(stateDir, FENCE_DIR, LEASE_FILE);

export const leaseSchema = z.object({
  version: z.literal(1),
  /** /proc/sys/kernel/random/boot_id when the lease was written; another boot = expired */
  bootId: z.string().max(64).nullable(),
  /** CLOCK_MONOTONIC, milliseconds: the watchdog fences at or after this instant */
  deadlineMonoMs: z.number().finite(),
  /** the controller's fenceAfterMs this lease was granted with */
  fenceAfterMs: z.number().int().positive(),
  /** wall clock at renewal, for people reading the file */
  renewedAt: z.string().max(40),
});
export type Lease = z.output<typeof leaseSchema>;

/** CLOCK_MONOTONIC in milliseconds (fractional). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** This boot's id, or null where the kernel does not tell (not Linux). */
export function bootId(file = "/proc/sys/kernel/random/boot_id"): string | null {
  try {
    return readFileSync(file, "utf8").trim().slice(0, 64) || null;
  } catch {
    return null;
  }
}

/**
 * The lease an acknowledged heartbeat grants: counted from when the heartbeat was SENT, so the
 * agent's deadline is never later than the controller's (lastHeartbeatAt is when it ARRIVED).
 */
export function leaseFor(sentAtMonoMs: number, fenceAfterMs: number, boot: string | null, now = new Date()): Lease {
  return {
    version: 1,
    bootId: boot,
    deadlineMonoMs: sentAtMonoMs + fenceAfterMs,
    fenceAfterMs,
    renewedAt: now.toISOString(),
  };
}

export type LeaseVerdict =
  { state: "unarmed" } | { state: "valid"; remainingMs: number } | { state: "expired"; lateMs: number; reason: string };

/**
 * What the watchdog does with the lease file's text (null = no file): no file = unarmed (never
 * fence); a file it cannot trust (unreadable, another boot) counts as expired, because the
 * controller restarts HA VMs elsewhere whatever this host believes.
 */
export function judgeLease(text: string | null, nowMonoMs: number, boot: string | null): LeaseVerdict {
  if (text === null) return { state: "unarmed" };
  let lease: Lease;
  try {
    const parsed = leaseSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return { state: "expired", lateMs: 0, reason: "lease file invalid" };
    lease = parsed.data;
  } catch {
    return { state: "expired", lateMs: 0, reason: "lease file is not JSON" };
  }
  if (lease.bootId !== null && boot !== null && lease.bootId !== boot)
    return { state: "expired", lateMs: 0, reason: "lease from another boot" };
  const remainingMs = lease.deadlineMonoMs - nowMonoMs;
  if (remainingMs > 0) return { state: "valid", remainingMs };
  return { state: "expired", lateMs: Math.max(0, -remainingMs), reason: "lease not renewed in time" };
}

/** Written to a temp file and renamed: the watchdog never reads half a lease. */
export async function writeLease(stateDir: string, lease: Lease): Promise<void> {
  const dir = fenceDirOf(stateDir);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, LEASE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fsp.writeFile(tmp, JSON.stringify(lease) + "\n", { mode: 0o600 });
    await fsp.rename(tmp, file);
  } catch (e) {
    // A full disk must not leave half a lease behind: the old lease stays as it was.
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/** The controller sent no fenceAfterMs: this host holds no lease, so nothing may be fenced. */
export async function disarmLease(stateDir: string): Promise<void> {
  await fsp.rm(leaseFileOf(stateDir), { force: true });
}

/** The lease file's text, or null when there is none. */
export async function readLeaseText(stateDir: string): Promise<string | null> {
  try {
    return await fsp.readFile(leaseFileOf(stateDir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

/** What the controller client calls after each acknowledged heartbeat. */
export class LeaseKeeper {
  private armed: boolean | null = null;
  constructor(
    private readonly stateDir: string,
    private readonly boot: string | null = bootId(),
  ) {}

  /** fenceAfterMs from the heartbeat response; undefined = the controller grants no lease (disarm). */
  async renew(sentAtMonoMs: number, fenceAfterMs: number | undefined): Promise<void> {
    if (fenceAfterMs === undefined) {
      if (this.armed !== false) await disarmLease(this.stateDir);
      this.armed = false;
      return;
    }
    await writeLease(this.stateDir, leaseFor(sentAtMonoMs, fenceAfterMs, this.boot));
    this.armed = true;
  }
}
