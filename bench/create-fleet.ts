// Simulated hosts for bench/creates.ts: each joins the real controller over mutual TLS like the agent
// (EC P-256 key, key proof, certificate issued at registration), then serves the REAL agent API
// (agent/src/api createAgentServer: host-token check, controller-certificate check, spec validation,
// NDJSON step stream) on its own 127.0.0.1 port with that certificate, so the controller's
// provisioning after a create runs exactly as against a real agent. Only the VM backend is
// simulated: a PUT "creates" the VM at once (the five steps, running), and every heartbeat reports
// the VMs the host holds. No QEMU: 100 creates/s cannot be QEMU-backed on 2 cores.
import crypto from "node:crypto";
import https from "node:https";
import {
  CONTROLLER_AGENT_PREFIX,
  heartbeatResponseSchema,
  keyProofMessage,
  registerResponseSchema,
  VM_CREATE_STEPS,
  type HostFacts,
  type VmSpec,
  type VmStatus,
  type VmStepEvent,
} from "../lib/schemas/agent-api";
import {
  closeServer,
  createAgentServer,
  listen,
  TokenVerifier,
  type AgentServer,
  type VmBackend,
} from "../agent/src/api";
import { simFacts } from "./heartbeat-sim";

export interface FleetOptions {
  /** the controller's agent TLS port on 127.0.0.1 */
  port: number;
  caPem: string;
  joinToken: string;
  hosts: number;
  /** images every host reports as cached (ready) */
  imageIds: string[];
}

class NotFound extends Error {
  code = "not_found";
}

/** The VM backend of one simulated host: an in-memory map, a create is instant and always runs. */
class SimVms implements VmBackend {
  readonly vms = new Map<string, VmStatus>();
  puts = 0;
  constructor(private readonly facts: HostFacts) {}

  async list(): Promise<VmStatus[]> {
    return [...this.vms.values()];
  }
  async get(id: string): Promise<VmStatus> {
    const vm = this.vms.get(id);
    if (!vm) throw new NotFound(`VM ${id} does not exist`);
    return vm;
  }
  async apply(id: string, spec: VmSpec, onStep?: (event: VmStepEvent) => void) {
    this.puts++;
    const known = this.vms.get(id);
    if (known) return { created: false, status: known };
    for (const name of VM_CREATE_STEPS)
      for (const status of ["running", "succeeded"] as const)
        onStep?.({ type: "step", name, status, at: new Date().toISOString() });
    const emulated = !this.facts.nativeArches.includes(spec.arch);
    const status: VmStatus = {
      id,
      name: spec.name,
      arch: spec.arch,
      powerState: "running",
      qmpStatus: "running",
      pid: 10_000 + this.vms.size,
      emulated,
      accel: emulated ? "tcg" : "kvm",
      vcpus: spec.vcpus,
      memoryMb: spec.memoryMb,
      generation: spec.generation,
      ...(spec.machineType ? { machineType: spec.machineType } : {}),
    };
    this.vms.set(id, status);
    return { created: true, status };
  }
  async action(id: string): Promise<VmStatus> {
    return this.get(id);
  }
  async delete(id: string): Promise<unknown> {
    this.vms.delete(id);
    return { id, deleted: true };
  }
}

export interface SimHost {
  index: number;
  facts: HostFacts;
  hostId: string | null;
  agentUrl: string;
  vms: SimVms;
  server: AgentServer;
  keyPem: string;
  publicKeyPem: string;
  certPem: string | null;
  hostToken: string | null;
  beats: number;
}

type Post = { status: number; body: string };

export class SimFleet {
  readonly hosts: SimHost[] = [];
  /** distinct request failures (register/heartbeat), with counts */
  readonly errors = new Map<string, number>();
  private stopped = false;
  private loops: Promise<void>[] = [];
  private wake = new Set<() => void>();

  constructor(private readonly opts: FleetOptions) {}

  /** Starts every host's agent API (TLS context installed after registration) and registers it. */
  async start(): Promise<void> {
    for (let index = 0; index < this.opts.hosts; index++) {
      const facts = simFacts(index);
      const vms = new SimVms(facts);
      const auth = new TokenVerifier();
      const server = createAgentServer({
        facts: () => facts,
        usage: async () => ({ cpuPct: 10, memoryUsedMb: 4096, diskUsedGb: 100, loadAvg: [0.5, 0.5, 0.5] }),
        vms,
        auth,
        tls: { context: null },
      });
      const addr = await listen(server, "127.0.0.1", 0);
      const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
      const host: SimHost = {
        index,
        facts,
        hostId: null,
        agentUrl: `https://127.0.0.1:${addr.port}`,
        vms,
        server,
        keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
        publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
        certPem: null,
        hostToken: null,
        beats: 0,
      };
      this.hosts.push(host);
      await this.register(host);
      auth.set(host.hostToken);
      (server as https.Server).setSecureContext({ key: host.keyPem, cert: host.certPem!, ca: this.opts.caPem });
      await this.heartbeat(host); // facts + agentUrl: the host is online before the next one joins
      this.loops.push(this.beatLoop(host));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.wake) w();
    await Promise.allSettled(this.loops);
    await Promise.all(this.hosts.map((h) => closeServer(h.server, 1_000)));
  }

  /** Every VM the simulated agents hold, by host id. */
  vmsByHost(): Map<string, Set<string>> {
    return new Map(this.hosts.map((h) => [h.hostId!, new Set(h.vms.vms.keys())]));
  }

  private async register(host: SimHost): Promise<void> {
    const proof = crypto
      .sign("sha256", Buffer.from(keyProofMessage(host.facts.machineId, host.agentUrl, host.publicKeyPem)), host.keyPem)
      .toString("base64");
    const res = await this.post(host, "/register", {
      joinToken: this.opts.joinToken,
      agentUrl: host.agentUrl,
      facts: host.facts,
      tls: { publicKey: host.publicKeyPem, proof },
    });
    const parsed = registerResponseSchema.safeParse(JSON.parse(res.body));
    if (res.status !== 200 || !parsed.success || !parsed.data.tls)
      throw new Error(`sim host ${host.index}: register HTTP ${res.status}: ${res.body.slice(0, 300)}`);
    host.hostId = parsed.data.hostId;
    host.hostToken = parsed.data.hostToken;
    host.certPem = parsed.data.tls.certificate;
  }

  private async beatLoop(host: SimHost): Promise<void> {
    let interval = 5_000;
    // Spread the hosts' heartbeats over the interval like independent agents.
    await this.sleep(Math.random() * interval);
    while (!this.stopped) {
      const next = await this.heartbeat(host).catch((e: unknown) => {
        this.note(`heartbeat: ${e instanceof Error ? e.message : String(e)}`);
        return null;
      });
      if (next) interval = next;
      await this.sleep(interval * (0.95 + Math.random() * 0.1));
    }
  }

  /** One heartbeat like ControllerClient's: facts + agentUrl first, then usage, VMs, image cache and metrics. */
  private async heartbeat(host: SimHost): Promise<number | null> {
    const vms = [...host.vms.vms.values()];
    const first = host.beats === 0;
    const body = {
      usage: { cpuPct: 10, memoryUsedMb: 4096, diskUsedGb: 100, loadAvg: [0.5, 0.5, 0.5] },
      vms,
      images: this.opts.imageIds.map((imageId) => ({ imageId, state: "ready", sizeBytes: 20_000_000, inUse: true })),
      ...(first
        ? { facts: host.facts, agentUrl: host.agentUrl }
        : {
            metrics: {
              windowMs: 5_000,
              host: { cpuPct: 10, memUsedMb: 4096, memTotalMb: host.facts.memoryMb },
              vms: vms.map((v) => ({ id: v.id, cpuPct: 3, rssMb: 60 })),
            },
          }),
    };
    const res = await this.post(host, "/heartbeat", body);
    const parsed = res.status === 200 ? heartbeatResponseSchema.safeParse(JSON.parse(res.body)) : null;
    if (!parsed?.success) {
      this.note(`heartbeat HTTP ${res.status}: ${res.body.slice(0, 160)}`);
      return null;
    }
    host.beats++;
    return parsed.data.heartbeatIntervalMs;
  }

  private note(error: string): void {
    if (this.stopped) return;
    this.errors.set(error, (this.errors.get(error) ?? 0) + 1);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const done = () => {
        clearTimeout(t);
        this.wake.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake.add(done);
    });
  }

  private post(host: SimHost, path: string, body: unknown): Promise<Post> {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: "127.0.0.1",
        port: this.opts.port,
        path: `${CONTROLLER_AGENT_PREFIX}${path}`,
        method: "POST",
        agent: false,
        ca: this.opts.caPem,
        ...(host.certPem ? { cert: host.certPem, key: host.keyPem } : {}),
        minVersion: "TLSv1.2",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          ...(host.hostToken ? { authorization: `Bearer ${host.hostToken}` } : {}),
        },
        timeout: 30_000,
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
