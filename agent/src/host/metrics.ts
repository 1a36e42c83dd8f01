// CPU and memory samples for the heartbeat, read from /proc (the agent only runs on Linux; where
// /proc is missing the heartbeat simply carries no metrics).
//
// Host:  CPU % from /proc/stat deltas between two samples (0..100 over all cores), memory used =
//        MemTotal - MemAvailable from /proc/meminfo.
// VMs:   for every VM with a QEMU pid, CPU % from utime+stime deltas of /proc/<pid>/stat,
//        relative to ONE host core (100 = one core busy, like top; a 2-vCPU guest spinning on both
//        shows ~200, and QEMU's own I/O / TCG threads count too), and VmRSS from /proc/<pid>/status.
//        The process's share is measured against the /proc/stat jiffies of the same window, so no
//        clock-tick (USER_HZ) constant is assumed.
// A VM (or a restarted QEMU: new pid or start time) first seen in a sample only sets a baseline and
// is reported from the next sample on; the very first call of a sampler returns null.
import fs from "node:fs";
import path from "node:path";
import { MAX_METRIC_VMS, type HeartbeatMetrics } from "../../../lib/schemas/agent-api";

export interface CpuTotals {
  /** jiffies over all CPUs: user+nice+system+idle+iowait+irq+softirq+steal (guest time is already in user/nice) */
  total: number;
  /** idle + iowait */
  idle: number;
  /** number of cpuN lines (online CPUs) */
  cpus: number;
}

/** The aggregate `cpu` line of /proc/stat, or null when the text has none. */
export function parseProcStat(text: string): CpuTotals | null {
  const line = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (!line?.[1]) return null;
  const f = line[1].trim().split(/\s+/).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const cpus = (text.match(/^cpu\d+\s/gm) ?? []).length;
  return {
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    idle: idle + iowait,
    cpus: Math.max(1, cpus),
  };
}

/** MemTotal and MemAvailable (kB) of /proc/meminfo; kernels before 3.14 lack MemAvailable: MemFree+Buffers+Cached. */
export function parseMeminfo(text: string): { totalKb: number; availableKb: number } | null {
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, "m").exec(text);
    return m?.[1] ? Number(m[1]) : null;
  };
  const totalKb = field("MemTotal");
  if (totalKb === null) return null;
  const availableKb =
    field("MemAvailable") ?? (field("MemFree") ?? 0) + (field("Buffers") ?? 0) + (field("Cached") ?? 0);
  return { totalKb, availableKb: Math.min(availableKb, totalKb) };
}

/**
 * /proc/<pid>/stat: utime+stime (clock ticks) and starttime (ticks after boot, identifies the
 * process across pid reuse). The command name may contain spaces and ')', so fields are counted
 * from the last ')'.
 */
export function parsePidStat(text: string): { ticks: number; startTime: number; state: string } | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  // rest[0] is field 3 (state); utime = field 14, stime = 15, starttime = 22
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const startTime = Number(rest[19]);
  if (![utime, stime, startTime].every(Number.isFinite) || rest.length < 20) return null;
  return { ticks: utime + stime, startTime, state: rest[0] ?? "?" };
}

/** VmRSS (kB) of /proc/<pid>/status; null for kernel threads and zombies (no such line). */
export function parseVmRssKb(text: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s*kB/m.exec(text);
  return m?.[1] ? Number(m[1]) : null;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

/** Busy share of all CPUs between two /proc/stat samples, 0..100. */
export function hostCpuPct(prev: CpuTotals, now: CpuTotals): number {
  const dTotal = now.total - prev.total;
  if (dTotal <= 0) return 0;
  const busy = dTotal - (now.idle - prev.idle);
  return round1(Math.max(0, Math.min(100, (busy / dTotal) * 100)));
}

/** A process's CPU between two samples, 100 = one host core, against the host's jiffies of the same window. */
export function processCpuPct(prevTicks: number, nowTicks: number, prev: CpuTotals, now: CpuTotals): number {
  const dTotal = now.total - prev.total;
  if (dTotal <= 0) return 0;
  const perCore = dTotal / now.cpus;
  return round1(Math.max(0, Math.min(100 * now.cpus, ((nowTicks - prevTicks) / perCore) * 100)));
}

export interface MetricsSamplerOptions {
  /** "/proc" unless a test points it at a captured tree */
  procRoot?: string;
  /** calls closer together than this return the previous result (a nudged heartbeat); default 1 s */
  minWindowMs?: number;
  now?: () => number;
}

type ProcBaseline = { pid: number; startTime: number; ticks: number };

/** Synchronous on purpose: procfs reads never wait on a disk, and async readFile cost ~4 thread-pool round trips each. */
function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

export class MetricsSampler {
  private readonly procRoot: string;
  private readonly minWindowMs: number;
  private readonly now: () => number;
  private last: { at: number; cpu: CpuTotals } | null = null;
  private baselines = new Map<string, ProcBaseline>();
  private lastResult: HeartbeatMetrics | null = null;

  constructor(opts: MetricsSamplerOptions = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.minWindowMs = opts.minWindowMs ?? 1_000;
    this.now = opts.now ?? Date.now;
  }

  /** Samples the host and the given VMs (those with a pid); null on the first call or without /proc. */
  async sample(vms: ReadonlyArray<{ id: string; pid?: number | null }>): Promise<HeartbeatMetrics | null> {
    const at = this.now();
    if (this.last && at - this.last.at < this.minWindowMs) return this.lastResult;
    const statText = readOrNull(path.join(this.procRoot, "stat"));
    const memText = readOrNull(path.join(this.procRoot, "meminfo"));
    const cpu = statText ? parseProcStat(statText) : null;
    const mem = memText ? parseMeminfo(memText) : null;
    if (!cpu || !mem) return null;

    const withPid = vms
      .filter(
        (v): v is { id: string; pid: number } => typeof v.pid === "number" && Number.isInteger(v.pid) && v.pid > 0,
      )
      .slice(0, MAX_METRIC_VMS);
    const reads = withPid.map((v) => {
      const dir = path.join(this.procRoot, String(v.pid));
      const st = readOrNull(path.join(dir, "stat"));
      const status = readOrNull(path.join(dir, "status"));
      return {
        id: v.id,
        pid: v.pid,
        stat: st ? parsePidStat(st) : null,
        rssKb: status ? parseVmRssKb(status) : null,
      };
    });

    const prev = this.last;
    const next = new Map<string, ProcBaseline>();
    const vmSamples: HeartbeatMetrics["vms"] = [];
    for (const r of reads) {
      if (!r.stat || r.stat.state === "Z" || r.stat.state === "X") continue; // gone between list and read
      next.set(r.id, { pid: r.pid, startTime: r.stat.startTime, ticks: r.stat.ticks });
      const base = this.baselines.get(r.id);
      if (!prev || !base || base.pid !== r.pid || base.startTime !== r.stat.startTime) continue; // baseline only
      vmSamples.push({
        id: r.id,
        cpuPct: processCpuPct(base.ticks, r.stat.ticks, prev.cpu, cpu),
        rssMb: Math.round((r.rssKb ?? 0) / 1024),
      });
    }
    this.baselines = next;
    this.last = { at, cpu };
    this.lastResult = prev
      ? {
          windowMs: Math.max(0, Math.round(at - prev.at)),
          host: {
            cpuPct: hostCpuPct(prev.cpu, cpu),
            memUsedMb: Math.round((mem.totalKb - mem.availableKb) / 1024),
            memTotalMb: Math.round(mem.totalKb / 1024),
          },
          vms: vmSamples,
        }
      : null;
    return this.lastResult;
  }
}
