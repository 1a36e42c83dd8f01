// What /proc says about a process (Linux only, like the agent): the VM manager and the fence
// watchdog both ask it before they trust a pid file.
import { readFileSync } from "node:fs";

/** Alive and not a zombie. Orphaned QEMUs may be reparented to a pid 1 that never reaps. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** argv of a running process, or null. */
export function processArgv(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw.split("\0").filter((s, i, a) => i < a.length - 1 || s !== "");
  } catch {
    return null;
  }
}
