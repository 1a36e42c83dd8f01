// Process and file helpers for VmManager (Linux /proc based: the agent only runs on Linux).
import { createHash } from "node:crypto";
import { constants as fsc, promises as fsp, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export { pidAlive, processArgv } from "../util";
import { pidAlive, processArgv } from "../util";

/** Guards against pid reuse: the process must have been started with exactly this pidfile. */
export function isQemuWithPidfile(pid: number, pidFile: string): boolean {
  const argv = processArgv(pid);
  if (!argv) return false;
  const i = argv.indexOf("-pidfile");
  return i >= 0 && argv[i + 1] === pidFile;
}

export async function readPidFile(file: string): Promise<number | null> {
  try {
    const n = Number.parseInt((await fsp.readFile(file, "utf8")).trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

/** RSS (MiB) and CPU time (s) of a process, from /proc. */
export function processUsage(pid: number): { rssMb?: number; cpuSeconds?: number } {
  const out: { rssMb?: number; cpuSeconds?: number } = {};
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (m?.[1]) out.rssMb = Math.round((Number(m[1]) / 1024) * 10) / 10;
  } catch {
    /* gone */
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); utime/stime are fields 14/15, in USER_HZ (100 on Linux).
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (Number.isFinite(ticks)) out.cpuSeconds = ticks / 100;
  } catch {
    /* gone */
  }
  return out;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls until the process is gone; true when it exited within `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number, isAborted?: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() >= deadline || isAborted?.()) return !pidAlive(pid);
    await sleep(100);
  }
  return true;
}

/** write-then-rename so a crash never leaves a half-written spec/state file. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, data, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

/**
 * Copies a firmware vars template without materialising its zero blocks (AAVMF_VARS.fd is 64 MiB
 * of mostly zeros; per-VM copies would otherwise cost 64 MiB each). Fails if `dest` exists.
 */
export async function sparseCopy(src: string, dest: string): Promise<void> {
  const input = await fsp.open(src, "r");
  let output: fsp.FileHandle | null = null;
  try {
    output = await fsp.open(dest, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    const { size } = await input.stat();
    const buf = Buffer.alloc(1024 * 1024);
    for (let pos = 0; pos < size;) {
      const { bytesRead } = await input.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      if (chunk.some((b) => b !== 0)) await output.write(chunk, 0, bytesRead, pos);
      pos += bytesRead;
    }
    await output.truncate(size);
  } finally {
    await input.close();
    await output?.close();
  }
}

// sun_path is 108 bytes including the NUL; leave room.
const MAX_SOCKET_PATH = 100;

/**
 * Directory for a VM's unix sockets: the VM dir when paths fit in sun_path, otherwise a short
 * per-state-dir directory under /run/polyarch (root) or the temp dir.
 */
export function socketDirFor(vmDir: string, stateDir: string, id: string, base?: string): string {
  if (Buffer.byteLength(path.join(vmDir, "serial.sock")) <= MAX_SOCKET_PATH) return vmDir;
  const root =
    base ??
    (process.getuid?.() === 0 ? "/run/polyarch" : path.join(os.tmpdir(), `polyarch-${process.getuid?.() ?? "u"}`));
  const tag = createHash("sha256").update(path.resolve(stateDir)).digest("hex").slice(0, 12);
  let dir = path.join(root, tag, id);
  if (Buffer.byteLength(path.join(dir, "serial.sock")) > MAX_SOCKET_PATH) {
    dir = path.join(root, tag, createHash("sha256").update(id).digest("hex").slice(0, 16));
  }
  return dir;
}

export function socketPathFits(p: string): boolean {
  return Buffer.byteLength(p) <= MAX_SOCKET_PATH;
}
