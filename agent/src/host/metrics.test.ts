import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { heartbeatMetricsSchema } from "../../../lib/schemas/agent-api";
import {
  hostCpuPct,
  MetricsSampler,
  parseMeminfo,
  parsePidStat,
  parseProcStat,
  parseVmRssKb,
  processCpuPct,
} from "./metrics";

// Captured from a 2-core Debian 12 VM (trimmed).
const STAT_1 = `cpu  816349 9281 166133 1838381 7034 0 2665 1603 0 0
cpu0 384000 4809 77820 951100 1414 0 716 790 0 0
cpu1 432349 4471 88312 887281 5620 0 1949 813 0 0
intr 123456 0 0
ctxt 98765
btime 1700000000
processes 14202
procs_running 2
`;
const STAT_2 = STAT_1.replace(
  "cpu  816349 9281 166133 1838381 7034 0 2665 1603 0 0",
  "cpu  816449 9281 166183 1838421 7044 0 2665 1603 0 0",
);
const MEMINFO = `MemTotal:       24684084 kB
MemFree:        20945068 kB
MemAvailable:   23416864 kB
Buffers:           79620 kB
Cached:          2371372 kB
SwapCached:            0 kB
`;
// A QEMU whose name contains a space and a ')': fields must be counted from the last ')'.
const PID_STAT =
  "4242 (qemu-system-aar) x) S 1 4241 4241 0 -1 4194560 52012 0 0 0 1200 300 0 0 20 0 5 0 1427136 2290089984 61234 " +
  "18446744073709551615 1 1 0 0 0 0 0 4096 17987 0 0 0 17 1 0 0 0 0 0\n";
const PID_STATUS = `Name:\tqemu-system-aar
Umask:\t0022
State:\tS (sleeping)
Pid:\t4242
VmPeak:\t 2236416 kB
VmSize:\t 2236416 kB
VmHWM:\t  245120 kB
VmRSS:\t  244936 kB
RssAnon:\t  230000 kB
Threads:\t5
`;

describe("metrics parsing (captured /proc text)", () => {
  it("reads the aggregate cpu line and counts CPUs", () => {
    expect(parseProcStat(STAT_1)).toEqual({
      total: 816349 + 9281 + 166133 + 1838381 + 7034 + 0 + 2665 + 1603,
      idle: 1838381 + 7034,
      cpus: 2,
    });
    expect(parseProcStat("intr 1 2 3\n")).toBeNull();
    expect(parseProcStat("")).toBeNull();
  });

  it("host CPU % is the busy share of the window across all cores", () => {
    const a = parseProcStat(STAT_1)!;
    const b = parseProcStat(STAT_2)!;
    // +100 user +50 system +40 idle +10 iowait = 200 jiffies, 150 busy
    expect(hostCpuPct(a, b)).toBe(75);
    expect(hostCpuPct(a, a)).toBe(0);
    expect(hostCpuPct(b, a)).toBe(0); // counters going backwards never yield nonsense
  });

  it("memory: MemTotal and MemAvailable, with the pre-3.14 fallback", () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ totalKb: 24684084, availableKb: 23416864 });
    expect(parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n")).toEqual({
      totalKb: 1000,
      availableKb: 400,
    });
    expect(parseMeminfo("nothing\n")).toBeNull();
  });

  it("process stat: utime+stime and start time past a hostile comm", () => {
    expect(parsePidStat(PID_STAT)).toEqual({ ticks: 1500, startTime: 1427136, state: "S" });
    expect(parsePidStat("garbage")).toBeNull();
    expect(parsePidStat("1 (x) S 1 2")).toBeNull();
    expect(parseVmRssKb(PID_STATUS)).toBe(244936);
    expect(parseVmRssKb("Name:\tkthreadd\nState:\tS\n")).toBeNull();
  });

  it("process CPU %: 100 = one host core, measured against the same window's jiffies", () => {
    const a = parseProcStat(STAT_1)!;
    const b = parseProcStat(STAT_2)!; // 200 jiffies over 2 CPUs = 100 jiffies per core
    expect(processCpuPct(1000, 1050, a, b)).toBe(50);
    expect(processCpuPct(1000, 1190, a, b)).toBe(190); // two busy vCPUs
    expect(processCpuPct(1000, 1500, a, b)).toBe(200); // clamped to all cores
    expect(processCpuPct(1000, 1050, a, a)).toBe(0);
  });
});

describe("MetricsSampler on a captured /proc tree", () => {
  let root: string | null = null;
  afterEach(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
    root = null;
  });

  function writeTree(stat: string, pids: Record<number, { stat: string; status: string }>) {
    root ??= fs.mkdtempSync(path.join(os.tmpdir(), "pa-proc-"));
    fs.writeFileSync(path.join(root, "stat"), stat);
    fs.writeFileSync(path.join(root, "meminfo"), MEMINFO);
    for (const [pid, f] of Object.entries(pids)) {
      fs.mkdirSync(path.join(root, pid), { recursive: true });
      fs.writeFileSync(path.join(root, pid, "stat"), f.stat);
      fs.writeFileSync(path.join(root, pid, "status"), f.status);
    }
    return root;
  }

  it("first call is a baseline; then host and VM samples; a new QEMU (pid reuse) starts a new baseline", async () => {
    let now = 1_000_000;
    const dir = writeTree(STAT_1, { 4242: { stat: PID_STAT, status: PID_STATUS } });
    const s = new MetricsSampler({ procRoot: dir, now: () => now });
    const vms = [{ id: "vm-a", pid: 4242 }, { id: "vm-stopped" }, { id: "vm-gone", pid: 999999 }];
    expect(await s.sample(vms)).toBeNull();

    now += 5_000;
    writeTree(STAT_2, { 4242: { stat: PID_STAT.replace(" 1200 300 ", " 1250 300 "), status: PID_STATUS } });
    const m = await s.sample(vms);
    expect(m).toEqual({
      windowMs: 5_000,
      host: {
        cpuPct: 75,
        memUsedMb: Math.round((24684084 - 23416864) / 1024),
        memTotalMb: Math.round(24684084 / 1024),
      },
      vms: [{ id: "vm-a", cpuPct: 50, rssMb: 239 }],
    });
    expect(heartbeatMetricsSchema.safeParse(m).success).toBe(true);

    // A nudged heartbeat 300 ms later gets the same sample instead of a 300 ms window.
    now += 300;
    expect(await s.sample(vms)).toBe(m);

    // Same pid, different start time: QEMU was restarted, its counters are not comparable.
    now += 5_000;
    writeTree(STAT_1.replace("cpu  816349", "cpu  826349"), {
      4242: { stat: PID_STAT.replace("1427136", "1999999"), status: PID_STATUS },
    });
    expect((await s.sample(vms))!.vms).toEqual([]);
  });

  it("returns null without /proc (not Linux)", async () => {
    const s = new MetricsSampler({ procRoot: path.join(os.tmpdir(), "pa-no-such-proc-dir"), minWindowMs: 0 });
    expect(await s.sample([])).toBeNull();
    expect(await s.sample([])).toBeNull();
  });
});

describe("MetricsSampler against this machine's /proc", () => {
  it("samples the host and the test process as if it were a VM", async () => {
    const s = new MetricsSampler({ minWindowMs: 0 });
    const me = [{ id: "self", pid: process.pid }];
    expect(await s.sample(me)).toBeNull();
    // Burn at least 100 ms of our own CPU time (not wall time: independent of machine speed and load).
    const start = process.cpuUsage();
    let x = 0;
    while (process.cpuUsage(start).user + process.cpuUsage(start).system < 100_000)
      for (let i = 0; i < 100_000; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    const m = await s.sample(me);
    expect(heartbeatMetricsSchema.safeParse(m).error).toBeUndefined();
    expect(m!.host.memTotalMb).toBeGreaterThan(0);
    expect(Math.abs(m!.host.memTotalMb - os.totalmem() / 1024 ** 2)).toBeLessThan(os.totalmem() / 1024 ** 2 / 100);
    expect(m!.host.memUsedMb).toBeGreaterThan(0);
    expect(m!.host.memUsedMb).toBeLessThanOrEqual(m!.host.memTotalMb);
    expect(m!.host.cpuPct).toBeGreaterThan(0);
    const self = m!.vms.find((v) => v.id === "self")!;
    expect(self.cpuPct).toBeGreaterThan(0);
    expect(self.cpuPct).toBeLessThanOrEqual(100 * os.cpus().length);
    // VmRSS agrees with Node's own view of its resident set (within a few MiB: they are read at different moments).
    expect(Math.abs(self.rssMb - process.memoryUsage.rss() / 1024 ** 2)).toBeLessThan(32);
  });
});
