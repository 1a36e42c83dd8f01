// Load generator for bench/heartbeat-scale.ts: N simulated agents that join a real controller on its
// agent TLS port and heart-beat like agent/src/controller/controller-client.ts does. Each agent has
// its own EC P-256 key, registers with a key proof, gets its client certificate back and presents
// it on every heartbeat (mutual TLS, ADR 017/025).
//
// Two modes (SimMode), switchable while running (setMode):
//   "agent"      — the real agent since issue 16: one kept-alive connection per agent (one TLS
//                  handshake, not one per heartbeat); facts, agentUrl and the image cache only in a
//                  full report — the first heartbeat, then every FULL_REPORT_MS (5 min, staggered
//                  over the agents) — since they do not change here; usage, VMs and metrics always.
//   "worst-case" — the agent before issue 16: a new TLS connection per request and full facts,
//                  agentUrl and images on every heartbeat.
//
// Runs in the bench process, never in the controller's: the controller's CPU is measured alone.
import crypto from "node:crypto";
import https from "node:https";
import {
  CONTROLLER_AGENT_PREFIX,
  heartbeatResponseSchema,
  hostFactsSchema,
  keyProofMessage,
  registerResponseSchema,
  type HostFacts,
  type VmStatus,
} from "../lib/schemas/agent-api";
import { percentile } from "./table";

export interface SimOptions {
  /** the controller's agent TLS port on 127.0.0.1 */
  port: number;
  /** the cluster CA (the agent's --controller-ca): verifies the controller's certificate */
  caPem: string;
  joinToken: string;
  agents: number;
  intervalMs: number;
  /** registrations are spread evenly over this long */
  rampMs: number;
  vmsPerAgent: number;
  /** images every agent reports in its cache (ids the controller knows) */
  imageIds: string[];
  mode: SimMode;
  /** a heartbeat's timeout (15 s); registrations wait up to REGISTER_TIMEOUT_MS */
  requestTimeoutMs?: number;
}

export type SimMode = "agent" | "worst-case";

const REGISTER_TIMEOUT_MS = 180_000;

/** The real agent sends its facts and image cache in full at least this often (and when they change). */
export const FULL_REPORT_MS = 5 * 60_000;

export interface SimAgent {
  index: number;
  machineId: string;
  agentUrl: string;
  keyPem: string;
  publicKeyPem: string;
  hostId: string | null;
  hostToken: string | null;
  certPem: string | null;
  beats: number;
  connection: https.Agent | false;
}

/** One request: when it started (performance.now()), how long it took, and whether it was a 200 with a valid body. */
export interface Sample {
  kind: "register" | "heartbeat";
  startMs: number;
  ms: number;
  ok: boolean;
}

export interface LatencySummary {
  count: number;
  errors: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Latencies of the `kind` requests started in [fromMs, toMs); errors count, latencies only of successes. */
export function summarize(
  samples: readonly Sample[],
  kind: Sample["kind"],
  fromMs: number,
  toMs: number,
): LatencySummary {
  const inWindow = samples.filter((s) => s.kind === kind && s.startMs >= fromMs && s.startMs < toMs);
  const ok = inWindow.filter((s) => s.ok).map((s) => s.ms);
  const pick = (p: number) => (ok.length ? percentile(ok, p) : NaN);
  return {
    count: inWindow.length,
    errors: inWindow.length - ok.length,
    perSecond: toMs > fromMs ? (inWindow.length * 1000) / (toMs - fromMs) : 0,
    p50: pick(50),
    p95: pick(95),
    p99: pick(99),
    max: ok.length ? Math.max(...ok) : NaN,
  };
}

const ARCH_OF = (i: number) => (i % 4 === 3 ? "aarch64" : "x86_64") as HostFacts["arch"];

/** The facts a mid-size node of this fleet reports (validated like the controller validates them). */
export function simFacts(index: number): HostFacts {
  const arch = ARCH_OF(index);
  const other = arch === "x86_64" ? "aarch64" : "x86_64";
  const cpuCount = 16 + (index % 4) * 16;
  const machineDefault = arch === "x86_64" ? "pc-q35-8.2" : "virt-8.2";
  return hostFactsSchema.parse({
    hostname: `sim-node-${String(index).padStart(4, "0")}`,
    machineId: simMachineId(index),
    arch,
    cpuCount,
    cpuModel: arch === "x86_64" ? "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz" : "Kunpeng-920",
    memoryMb: cpuCount * 4096,
    diskGb: 1800,
    kvm: true,
    qemu: {
      version: "8.2.2",
      binaries: { [arch]: `/usr/bin/qemu-system-${arch}`, [other]: `/usr/bin/qemu-system-${other}` },
      firmware:
        arch === "x86_64" ? { ovmf: "/usr/share/OVMF/OVMF_CODE_4M.fd" } : { aavmf: "/usr/share/AAVMF/AAVMF_CODE.fd" },
    },
    ovs: { available: true, version: "3.3.0", datapath: "system" },
    nativeArches: [arch],
    emulatedArches: [other],
    maxVcpusNative: cpuCount,
    maxVcpusEmulated: 4,
    agentVersion: "0.1.0",
    machines: {
      [arch]: { default: machineDefault, types: [machineDefault, arch === "x86_64" ? "pc-q35-8.1" : "virt-8.1"] },
    },
    pageSizeKb: 4,
    gicVersion: arch === "aarch64" ? 3 : null,
    cpuId: arch === "aarch64" ? { implementer: "0x48", part: "0xd01" } : null,
  });
}

export function simMachineId(index: number): string {
  return `sim-${crypto.createHash("sha256").update(`polyarch-bench-${index}`).digest("hex").slice(0, 32)}`;
}

export function simVmId(index: number, vm: number): string {
  return `sim${index}-vm${vm}`;
}

/** The agent's VM list: all running under KVM, one per `vmsPerAgent`. */
export function simVms(agent: Pick<SimAgent, "index">, vmsPerAgent: number): VmStatus[] {
  const arch = ARCH_OF(agent.index);
  return Array.from({ length: vmsPerAgent }, (_, j) => ({
    id: simVmId(agent.index, j),
    name: `vm-${agent.index}-${j}`,
    arch,
    powerState: "running" as const,
    qmpStatus: "running",
    pid: 10_000 + j,
    emulated: false,
    accel: "kvm" as const,
    vcpus: 2,
    memoryMb: 2048,
    rssMb: 1900 + j,
    cpuSeconds: 1000 + agent.index,
    display: arch === "x86_64" ? ("vga" as const) : ("none" as const),
    generation: 1,
    machineType: arch === "x86_64" ? "pc-q35-8.2" : "virt-8.2",
  }));
}

/** Whether this heartbeat carries the full report (facts, agentUrl, images): see the header. */
export function isFullReport(agent: Pick<SimAgent, "index" | "beats">, opts: Pick<SimOptions, "intervalMs" | "mode">) {
  if (opts.mode === "worst-case" || agent.beats === 0) return true;
  const every = Math.max(1, Math.round(FULL_REPORT_MS / opts.intervalMs));
  return (agent.beats + agent.index) % every === 0; // staggered: not every agent in the same interval
}

/** A heartbeat body as ControllerClient.heartbeat sends it in this mode; metrics from the second heartbeat of a run on. */
export function simHeartbeatBody(
  agent: SimAgent,
  opts: Pick<SimOptions, "vmsPerAgent" | "imageIds" | "intervalMs" | "mode">,
) {
  const vms = simVms(agent, opts.vmsPerAgent);
  const first = agent.beats === 0;
  const load = 0.5 + (agent.index % 7);
  return {
    usage: { cpuPct: 20 + (agent.index % 50), memoryUsedMb: 20_000, diskUsedGb: 300, loadAvg: [load, load, load] },
    vms,
    ...(isFullReport(agent, opts)
      ? {
          facts: simFacts(agent.index),
          agentUrl: agent.agentUrl,
          images: opts.imageIds.map((imageId, k) => ({
            imageId,
            state: "ready",
            sizeBytes: 300_000_000 + k,
            inUse: k === 0,
          })),
        }
      : {}),
    ...(first
      ? {}
      : {
          metrics: {
            windowMs: opts.intervalMs,
            host: { cpuPct: 20 + ((agent.index + agent.beats) % 50), memUsedMb: 20_000, memTotalMb: 65_536 },
            vms: vms.map((v, j) => ({ id: v.id, cpuPct: 5 + ((agent.beats + j) % 90), rssMb: v.rssMb! })),
          },
        }),
  };
}

type Post = { status: number; body: string };

/** One kept-alive connection per agent (the real agent), or none: a TLS handshake per request. */
function connectionFor(mode: SimMode): https.Agent | false {
  return mode === "agent" ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : false;
}

export class HeartbeatSim {
  readonly agents: SimAgent[];
  readonly samples: Sample[] = [];
  /** the first few distinct error messages, with counts */
  readonly errorKinds = new Map<string, number>();
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sleepers = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private readonly retired: https.Agent[] = [];

  constructor(private opts: SimOptions) {
    this.agents = Array.from({ length: opts.agents }, (_, index) => {
      const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
      return {
        index,
        machineId: simMachineId(index),
        // Nothing listens there: with no VMs to create the controller never calls the agents.
        agentUrl: `https://127.0.0.1:${20_000 + (index % 40_000)}`,
        keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
        hostId: null,
        hostToken: null,
        certPem: null,
        beats: 0,
        connection: connectionFor(opts.mode),
      };
    });
  }

  /** Switches every agent to `mode` from its next request (the benchmark's reference window). */
  setMode(mode: SimMode): void {
    this.opts = { ...this.opts, mode };
    for (const a of this.agents) {
      // Not destroyed now: a request in flight on it would fail. stop() closes it.
      if (a.connection) this.retired.push(a.connection);
      a.connection = connectionFor(mode);
    }
  }

  /** Registers every agent (spread over rampMs) and starts its heartbeat loop right after, as the agent does. */
  start(): void {
    const step = this.opts.agents > 1 ? this.opts.rampMs / this.opts.agents : 0;
    for (const agent of this.agents) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.stopped) this.loops.push(this.run(agent));
      }, agent.index * step);
      this.timers.add(t);
    }
  }

  /** Resolves when every agent has a host id (or gave up); the ids feed the VM seeding. */
  async registeredAgents(timeoutMs: number): Promise<SimAgent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.agents.some((a) => !a.hostId) && Date.now() < deadline && !this.stopped)
      await new Promise((r) => setTimeout(r, 200));
    return this.agents.filter((a) => a.hostId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const wake of this.sleepers) wake();
    await Promise.allSettled(this.loops);
    for (const a of this.agents) if (a.connection) a.connection.destroy();
    for (const c of this.retired) c.destroy();
  }

  /** A wait that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const wake = () => {
        clearTimeout(t);
        this.sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  private async run(agent: SimAgent): Promise<void> {
    // Register until it works (backoff like the agent's, short), then heartbeat every interval ± 5 %.
    while (!this.stopped && !agent.hostId) {
      if (!(await this.register(agent))) await this.sleep(2_000 + Math.random() * 1_000);
    }
    while (!this.stopped) {
      await this.heartbeat(agent);
      await this.sleep(this.opts.intervalMs * (0.95 + Math.random() * 0.1));
    }
  }

  private async register(agent: SimAgent): Promise<boolean> {
    const facts = simFacts(agent.index);
    const proof = crypto
      .sign("sha256", Buffer.from(keyProofMessage(facts.machineId, agent.agentUrl, agent.publicKeyPem)), agent.keyPem)
      .toString("base64");
    const body = {
      joinToken: this.opts.joinToken,
      agentUrl: agent.agentUrl,
      facts,
      tls: { publicKey: agent.publicKeyPem, proof },
    };
    const res = await this.timed("register", agent, "/register", body, (r) => registerResponseSchema.safeParse(r));
    if (!res?.tls) return false;
    agent.hostId = res.hostId;
    agent.hostToken = res.hostToken;
    agent.certPem = res.tls.certificate;
    return true;
  }

  private async heartbeat(agent: SimAgent): Promise<void> {
    const body = simHeartbeatBody(agent, this.opts);
    const res = await this.timed("heartbeat", agent, "/heartbeat", body, (r) => heartbeatResponseSchema.safeParse(r));
    if (res) agent.beats++;
  }

  /** One POST, timed from before the TLS handshake to the parsed answer; failures are counted, never thrown. */
  private async timed<T>(
    kind: Sample["kind"],
    agent: SimAgent,
    path: string,
    body: unknown,
    parse: (raw: unknown) => { success: true; data: T } | { success: false },
  ): Promise<T | null> {
    const startMs = performance.now();
    let result: T | null = null;
    let error = "";
    try {
      const res = await this.post(agent, path, JSON.stringify(body));
      if (res.status !== 200) error = `${path} HTTP ${res.status}: ${res.body.slice(0, 160)}`;
      else {
        const parsed = parse(JSON.parse(res.body));
        if (parsed.success) result = parsed.data;
        else error = `${path}: answer does not match the schema`;
      }
    } catch (e) {
      error = `${path}: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (this.stopped && error) return null; // requests cut off by stop() are not the controller's errors
    this.samples.push({ kind, startMs, ms: performance.now() - startMs, ok: result !== null });
    if (error) this.errorKinds.set(error, (this.errorKinds.get(error) ?? 0) + 1);
    return result;
  }

  private post(agent: SimAgent, path: string, payload: string): Promise<Post> {
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: "127.0.0.1",
        port: this.opts.port,
        path: `${CONTROLLER_AGENT_PREFIX}${path}`,
        method: "POST",
        agent: agent.connection,
        ca: this.opts.caPem,
        ...(agent.certPem ? { cert: agent.certPem, key: agent.keyPem } : {}),
        minVersion: "TLSv1.2",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          ...(agent.hostToken ? { authorization: `Bearer ${agent.hostToken}` } : {}),
        },
        // A registration given up client-side may still commit: its retry is then refused (the machine
        // id has a host), so registrations wait long under the ramp's load instead.
        timeout: path === "/register" ? REGISTER_TIMEOUT_MS : (this.opts.requestTimeoutMs ?? 15_000),
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      });
      req.end(payload);
    });
  }
}
