// /proc readings and child-process helpers shared by the agent benchmarks.
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";

/** USER_HZ: /proc times are in clock ticks (100 on Linux, as agent/src/vm/proc.ts assumes) */
export const TICK_MS = 10;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

/** Only processes whose command line mentions our temp dir are ever signalled. */
export function killIfOurs(pid: number, marker: string): void {
  try {
    if (pidAlive(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker)) process.kill(pid, "SIGKILL");
  } catch {
    /* gone */
  }
}

export async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** /proc/uptime in ms (10 ms resolution): same clock as a process's starttime. */
export function uptimeMs(): number {
  return Number(fs.readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
}

/** utime+stime and starttime (both ms) of a process. */
export function procTimes(pid: number): { cpuMs: number; startMs: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // f[0] is field 3 (state): utime/stime are fields 14/15, starttime field 22.
  return { cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS, startMs: Number(f[19]) * TICK_MS };
}

export function statusKb(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${key} in /proc/${pid}/status`);
  return Number(m[1]);
}
