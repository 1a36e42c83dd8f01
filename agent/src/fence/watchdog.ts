// The fence watchdog (ADR 036): a process of its own (`agent.mjs fence-watchdog --state-dir DIR`)
// so that a hung, stopped or crashed agent still fences. Every ~200 ms it reads the lease; once an
// armed lease has expired it SIGKILLs the QEMU of every fenced VM and records what it did. It keeps
// checking after that: a fenced VM may not run on this host again until the lease is renewed.
import { existsSync, promises as fsp } from "node:fs";
import path from "node:path";
import { createLogger, type Logger } from "../util";
import { fenceTargets, killTargets } from "./fence-vms";
import {
  bootId,
  FENCED_FILE,
  fenceDirOf,
  judgeLease,
  monotonicMs,
  readLeaseText,
  WATCHDOG_PID_FILE,
  type LeaseVerdict,
} from "./lease";
import { findWatchdog } from "./supervisor";

export const DEFAULT_POLL_MS = 200;

export interface FenceRecord {
  at: string;
  reason: string;
  /** how long after the lease's deadline the watchdog acted */
  lateMs: number;
  vms: Array<{ id: string; pid: number }>;
}

/** One look at the lease and the VMs; returns the record when it killed something. */
export async function fenceOnce(
  stateDir: string,
  boot: string | null,
  log: Logger,
  onVerdict?: (v: LeaseVerdict) => void,
): Promise<FenceRecord | null> {
  const verdict: LeaseVerdict = judgeLease(await readLeaseText(stateDir).catch(() => null), monotonicMs(), boot);
  onVerdict?.(verdict);
  if (verdict.state !== "expired") return null;
  const killed = killTargets(fenceTargets(stateDir));
  if (killed.length === 0) return null;
  const record: FenceRecord = {
    at: new Date().toISOString(),
    reason: verdict.reason,
    lateMs: Math.round(verdict.lateMs),
    vms: killed,
  };
  log("error", "fence.fenced", { ...record });
  const file = path.join(fenceDirOf(stateDir), FENCED_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(record) + "\n", { mode: 0o600 });
  await fsp.rename(tmp, file);
  return record;
}

/** argv after the subcommand: --state-dir DIR [--poll-ms N]. */
export function parseWatchdogArgs(argv: string[]): { stateDir: string; pollMs: number } {
  let stateDir: string | undefined;
  let pollMs = DEFAULT_POLL_MS;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--state-dir") stateDir = path.resolve(value);
    else if (flag === "--poll-ms") pollMs = Number(value);
    else throw new Error(`unknown option ${flag}`);
  }
  if (!stateDir) throw new Error("--state-dir is required");
  if (!Number.isInteger(pollMs) || pollMs < 20 || pollMs > 5000) throw new Error("--poll-ms must be 20..5000");
  return { stateDir, pollMs };
}

/**
 * The watchdog process's main loop. Exits (resolves) on SIGTERM/SIGINT, when its state dir is
 * gone, or when another live watchdog owns the pid file (never two for one state dir).
 */
export async function runWatchdog(
  argv: string[],
  log: Logger = createLogger({ agent: "fence-watchdog" }),
): Promise<number> {
  let opts: { stateDir: string; pollMs: number };
  try {
    opts = parseWatchdogArgs(argv);
  } catch (e) {
    process.stderr.write(`fence-watchdog: ${(e as Error).message}\n`);
    return 2;
  }
  const { stateDir, pollMs } = opts;
  const other = findWatchdog(stateDir);
  if (other !== null && other !== process.pid) {
    log("info", "fence.watchdog_already_running", { stateDir, pid: other });
    return 0;
  }
  const pidFile = path.join(fenceDirOf(stateDir), WATCHDOG_PID_FILE);
  await fsp.mkdir(fenceDirOf(stateDir), { recursive: true, mode: 0o700 });
  await fsp.writeFile(`${pidFile}.${process.pid}.tmp`, `${process.pid}\n`, { mode: 0o600 });
  await fsp.rename(`${pidFile}.${process.pid}.tmp`, pidFile);
  log("info", "fence.watchdog_started", { stateDir, pollMs, pid: process.pid });

  let stop = false;
  let wake: (() => void) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    log("info", "fence.watchdog_stopping", { signal });
    stop = true;
    wake?.();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const boot = bootId();
  let lastState: LeaseVerdict["state"] | null = null;
  try {
    while (!stop) {
      if (!existsSync(stateDir)) {
        log("info", "fence.watchdog_stopping", { reason: "state dir is gone" });
        break;
      }
      await fenceOnce(stateDir, boot, log, (v) => {
        // Each change of state once in the log (armed, lapsed, disarmed), not every poll.
        if (v.state !== lastState) log(v.state === "expired" ? "warn" : "info", `fence.lease_${v.state}`, { ...v });
        lastState = v.state;
      }).catch((e: unknown) => log("error", "fence.check_failed", { error: e }));
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, pollMs);
      });
    }
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    // Only our own pid file: a successor may already have written its own.
    const owner = await fsp.readFile(pidFile, "utf8").catch(() => "");
    if (owner.trim() === String(process.pid)) await fsp.rm(pidFile, { force: true }).catch(() => {});
  }
  return 0;
}
