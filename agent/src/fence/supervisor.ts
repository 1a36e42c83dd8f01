// Starting and stopping the fence watchdog from the agent. Contract for everything that manages an
// agent (the fleet scripts too): <stateDir>/fence/watchdog.pid holds the watchdog's pid; trust it
// only when /proc/<pid>/cmdline contains "fence-watchdog" and the state dir (pids are reused).
// The agent starts the watchdog detached and never stops it on its own shutdown: a crashed or
// stopped agent must still be fenced. Whoever removes the agent for good stops it (SIGTERM), or
// removes the state dir (the watchdog then exits by itself).
import { spawn } from "node:child_process";
import { closeSync, constants as fsc, mkdirSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { pidAlive, processArgv } from "../util";
import { fenceDirOf, WATCHDOG_COMMAND, WATCHDOG_LOG_FILE, WATCHDOG_PID_FILE } from "./lease";

export const watchdogPidFileOf = (stateDir: string): string => path.join(fenceDirOf(stateDir), WATCHDOG_PID_FILE);

/** True when argv is a fence watchdog for this state dir (whatever runs Node: node, qemu-user + node). */
export function isWatchdogArgv(argv: string[] | null, stateDir: string): boolean {
  return Boolean(argv?.includes(WATCHDOG_COMMAND) && argv.includes(path.resolve(stateDir)));
}

/** The pid of the live watchdog of this state dir, or null. */
export function findWatchdog(stateDir: string): number | null {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(watchdogPidFileOf(stateDir), "utf8").trim(), 10);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1 || !pidAlive(pid)) return null;
  return isWatchdogArgv(processArgv(pid), stateDir) ? pid : null;
}

export interface WatchdogLaunch {
  stateDir: string;
  /** how to run Node: [process.execPath], or a qemu-user prefix for an emulated agent (--node-command) */
  nodeCommand: string[];
  /** the agent bundle (dist/agent.mjs) whose subcommand is the watchdog */
  entry: string;
  pollMs?: number;
}

/** The argv the watchdog is started with (also what findWatchdog recognises). */
export function watchdogArgv(l: WatchdogLaunch): string[] {
  return [
    ...l.nodeCommand,
    l.entry,
    WATCHDOG_COMMAND,
    "--state-dir",
    path.resolve(l.stateDir),
    ...(l.pollMs ? ["--poll-ms", String(l.pollMs)] : []),
  ];
}

/**
 * Starts the watchdog unless one runs for this state dir. Detached, in its own session, output
 * appended to <stateDir>/fence/watchdog.log. Returns its pid and whether this call started it
 * (the new process writes the pid file itself: waitForWatchdog waits for that).
 */
export function ensureWatchdog(l: WatchdogLaunch): { pid: number; started: boolean } {
  const running = findWatchdog(l.stateDir);
  if (running !== null) return { pid: running, started: false };
  const [cmd, ...args] = watchdogArgv(l);
  if (!cmd) throw new Error("no node command to run the fence watchdog with");
  mkdirSync(fenceDirOf(l.stateDir), { recursive: true, mode: 0o700 });
  const logFd = openSync(
    path.join(fenceDirOf(l.stateDir), WATCHDOG_LOG_FILE),
    fsc.O_WRONLY | fsc.O_CREAT | fsc.O_APPEND,
    0o600,
  );
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ["ignore", logFd, logFd] });
    child.on("error", () => {}); // a missing binary shows as "not running" to findWatchdog
    child.unref();
    if (!child.pid) throw new Error(`could not start the fence watchdog (${cmd})`);
    return { pid: child.pid, started: true };
  } finally {
    closeSync(logFd);
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Waits until the watchdog has written its pid file (it is then checking); null on timeout. */
export async function waitForWatchdog(stateDir: string, timeoutMs = 30_000): Promise<number | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const pid = findWatchdog(stateDir);
    if (pid !== null || Date.now() > end) return pid;
    await sleep(50);
  }
}

/** SIGTERM to this state dir's watchdog and wait for it to exit; true when none is left. */
export async function stopWatchdog(stateDir: string, timeoutMs = 10_000): Promise<boolean> {
  const pid = findWatchdog(stateDir);
  if (pid === null) return true;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return true;
  }
  const end = Date.now() + timeoutMs;
  while (pidAlive(pid) && isWatchdogArgv(processArgv(pid), stateDir)) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}
