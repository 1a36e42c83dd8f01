// Process helpers for the local fleet (scripts/fleet/fleet.mjs, ovs.mjs): tools run with argv
// arrays only, and a pid is signalled only while /proc confirms it is still the process we started
// (a pid file may outlive its process, and the pid may have been reused).
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export function run(cmd, args, { env = process.env, timeoutMs = 20_000, cwd } = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: timeoutMs, cwd, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const e = new Error(`${path.basename(cmd)} ${args.join(" ")}: ${String(stderr || err.message).trim()}`);
        e.code = err.code;
        reject(e);
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
export function sbin(name) {
  for (const d of ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/usr/local/bin"]) {
    const p = path.join(d, name);
    if (fs.existsSync(p)) return p;
  }
  return name;
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
export function procComm(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}
export function procArgv(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}
export function readPid(file) {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}
/** SIGTERM, wait, SIGKILL — only while `still(pid)` confirms it is still our process. */
export async function killPid(pid, still, graceMs = 5_000) {
  if (!pid || !alive(pid) || !still(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!alive(pid)) return;
    await sleep(50);
  }
  if (alive(pid) && still(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}
export function killPidSync(pid, still) {
  if (pid && alive(pid) && still(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}
/** Confirms a pid by its comm (the kernel keeps 15 characters of it). */
export const isComm = (comm) => (pid) => procComm(pid) === comm.slice(0, 15);
