// Agent -> controller: registration (join token -> host id + host token) and the heartbeat
// loop. Nothing here may crash the agent: a controller that is down, slow or rejecting us is
// logged and retried with backoff while the VMs keep running.
import fsp from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import {
  CONTROLLER_AGENT_PREFIX,
  heartbeatResponseSchema,
  registerResponseSchema,
  type HeartbeatMetrics,
  type HostFacts,
  type HostImageReport,
  type VmStatus,
} from "../../../lib/schemas/agent-api";
import { monotonicMs } from "../fence";
import type { HostUsage } from "../host";
import { silentLogger, type Logger } from "../util";
import { keyProof, TrustError, type AgentTls } from "./tls";
import { ControllerTransport } from "./transport";

export const identitySchema = z.object({
  hostId: z.string().min(1),
  hostToken: z.string().min(1),
  /** identity is only valid for the controller that issued it */
  controllerUrl: z.string(),
  machineId: z.string(),
  registeredAt: z.string(),
});
export type Identity = z.output<typeof identitySchema>;

export const IDENTITY_FILE = "identity.json";

/** Facts and the image report go with a heartbeat at least this often even when unchanged. */
export const FULL_REPORT_MS = 5 * 60_000;

export async function loadIdentity(stateDir: string): Promise<Identity | null> {
  try {
    const parsed = identitySchema.safeParse(JSON.parse(await fsp.readFile(path.join(stateDir, IDENTITY_FILE), "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Written to a temp file (0600: the host token is a credential) and renamed: never half a file. */
export async function saveIdentity(stateDir: string, identity: Identity): Promise<void> {
  await fsp.mkdir(stateDir, { recursive: true });
  const file = path.join(stateDir, IDENTITY_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(identity, null, 2) + "\n", { mode: 0o600 });
  await fsp.chmod(tmp, 0o600); // umask-proof
  await fsp.rename(tmp, file);
}

export class ControllerHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** the host token the refused request carried */
    readonly token?: string,
  ) {
    super(message);
    this.name = "ControllerHttpError";
  }
}

export interface ControllerClientOptions {
  controllerUrl: string;
  stateDir: string;
  joinToken?: string;
  /** URL the controller uses to call this agent */
  agentUrl: string;
  getFacts: () => HostFacts;
  getUsage: () => Promise<HostUsage>;
  listVms: () => Promise<VmStatus[]>;
  /** the image cache; when absent or failing, the heartbeat omits `images` (controller keeps its records) */
  listImages?: () => Promise<HostImageReport[]>;
  /** CPU/memory samples (agent/src/host/metrics.ts) for the VMs of this heartbeat; null or failing = no `metrics` */
  getMetrics?: (vms: VmStatus[]) => Promise<HeartbeatMetrics | null>;
  /**
   * The HA lease (ADR 036): called after every acknowledged heartbeat with the monotonic time it was
   * SENT and the controller's fenceAfterMs (undefined = no lease: disarm). fence/LeaseKeeper.
   */
  lease?: { renew(sentAtMonoMs: number, fenceAfterMs: number | undefined): Promise<void> };
  /** a copy the controller moved elsewhere at a newer generation (heartbeat `evict`): VmManager.evict */
  evict?: (id: string, generation: number) => Promise<unknown>;
  /** called with the current host token whenever it changes (the API server accepts it) */
  onToken?: (token: string) => void;
  /** TLS (the default): registration sends our public key and installs the certificate it gets back; absent = --insecure-http */
  tls?: AgentTls | null;
  log?: Logger;
  /** interval until the controller says otherwise */
  heartbeatMs?: number;
  /** when set, the controller's heartbeatIntervalMs is ignored (the --heartbeat-ms flag) */
  fixedHeartbeat?: boolean;
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
}

export class ControllerClient {
  private identityValue: Identity | null = null;
  private intervalMs: number;
  private failures = 0;
  private stopped = false;
  private loopPromise: Promise<void> | null = null;
  private wake: AbortController = new AbortController();
  private readonly base: string;
  private readonly log: Logger;
  /** kept-alive connections to the controller for registration and heartbeats */
  private readonly transport: ControllerTransport;
  /** evictions in progress, by VM id: one at a time per VM, never holding up the heartbeat */
  private readonly evicting = new Map<string, Promise<void>>();
  /** facts + agentUrl go with the first heartbeat of every agent run (they may have changed) and after a failure */
  private sendFactsNext = true;
  /** when facts (and images) last went with an acknowledged heartbeat (monotonic ms) */
  private lastFullAtMonoMs = 0;
  /** the image report the controller last acknowledged; null = send it with the next heartbeat */
  private ackedImagesJson: string | null = null;
  /** "agent.announced" is logged once per run */
  private announced = false;
  lastHeartbeatAt: Date | null = null;
  private lastAnsweredMonoMs: number | null = null;

  constructor(private readonly opts: ControllerClientOptions) {
    const u = new URL(opts.controllerUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new Error(`controller URL must be http(s): ${opts.controllerUrl}`);
    this.base = opts.controllerUrl.replace(/\/+$/, "");
    this.intervalMs = opts.heartbeatMs ?? 10_000;
    this.log = opts.log ?? silentLogger;
    const tls = opts.tls;
    this.transport = new ControllerTransport(this.base, tls ? () => tls.connectionTls() : null);
  }

  get identity(): Identity | null {
    return this.identityValue;
  }

  get token(): string | null {
    return this.identityValue?.hostToken ?? null;
  }

  get heartbeatIntervalMs(): number {
    return this.intervalMs;
  }

  /** Loads identity.json if it belongs to this controller and machine. */
  async loadIdentity(): Promise<Identity | null> {
    const id = await loadIdentity(this.opts.stateDir);
    const machineId = this.opts.getFacts().machineId;
    if (id && (id.controllerUrl !== this.base || id.machineId !== machineId)) {
      this.log("warn", "identity.ignored", {
        reason: "issued for another controller or machine id",
        hostId: id.hostId,
        controller: id.controllerUrl,
      });
      return null;
    }
    if (id && this.opts.tls && !this.opts.tls.material) {
      this.log("warn", "identity.ignored", {
        reason: "no valid certificate for this key and trusted CA in the state dir: registering again",
        hostId: id.hostId,
      });
      return null;
    }
    if (id) this.setIdentity(id);
    return id;
  }

  private setIdentity(id: Identity): void {
    this.identityValue = id;
    this.opts.onToken?.(id.hostToken);
  }

  /** The rotated host token from the controller (PUT /v1/token on our API): kept like a registration's. */
  async acceptToken(hostToken: string): Promise<void> {
    const id = this.identityValue;
    if (!id) throw new Error("not registered");
    const next = { ...id, hostToken };
    await saveIdentity(this.opts.stateDir, next);
    this.setIdentity(next);
    this.log("info", "agent.token_rotated", { hostId: id.hostId });
  }

  private async post(pathName: string, body: unknown, token?: string): Promise<unknown> {
    const res = await this.transport.postJson(
      `${CONTROLLER_AGENT_PREFIX}${pathName}`,
      JSON.stringify(body),
      token ? { authorization: `Bearer ${token}` } : {},
      this.opts.requestTimeoutMs ?? 15_000,
    );
    const text = res.text;
    // Redirects are not followed (the old fetch refused them too): a 3xx is an error here.
    if (res.status < 200 || res.status > 299) {
      let msg = text.slice(0, 300);
      try {
        const j = JSON.parse(text) as { error?: { message?: string } };
        if (j.error?.message) msg = j.error.message;
      } catch {
        /* not JSON */
      }
      throw new ControllerHttpError(res.status, `controller ${pathName} answered ${res.status}: ${msg}`, token);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new ControllerHttpError(res.status, `controller ${pathName} answered non-JSON`);
    }
  }

  /** One registration attempt with the join token. */
  async register(): Promise<Identity> {
    const joinToken = this.opts.joinToken;
    if (!joinToken)
      throw new Error("no join token: pass --join-token-file or POLYARCH_JOIN_TOKEN to register this host");
    const facts = this.opts.getFacts();
    const tls = this.opts.tls;
    if (tls) await tls.prepareFor(this.base);
    const body = {
      joinToken,
      agentUrl: this.opts.agentUrl,
      facts,
      ...(tls
        ? { tls: { publicKey: tls.key.publicKeyPem, proof: keyProof(tls.key, facts.machineId, this.opts.agentUrl) } }
        : {}),
    };
    const raw = await this.post("/register", body);
    const parsed = registerResponseSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`controller register response invalid: ${parsed.error.issues[0]?.message}`);
    if (tls) {
      if (!parsed.data.tls)
        throw new TrustError(
          "the controller issued no certificate for this agent (an older controller?); the agent serves TLS only (--insecure-http is for development)",
        );
      await tls.install(this.opts.stateDir, parsed.data.tls.certificate, parsed.data.tls.caCertificate);
    }
    const identity: Identity = {
      hostId: parsed.data.hostId,
      hostToken: parsed.data.hostToken,
      controllerUrl: this.base,
      machineId: facts.machineId,
      registeredAt: new Date().toISOString(),
    };
    await saveIdentity(this.opts.stateDir, identity);
    this.setIdentity(identity);
    if (!this.opts.fixedHeartbeat && parsed.data.heartbeatIntervalMs > 0)
      this.intervalMs = parsed.data.heartbeatIntervalMs;
    this.sendFactsNext = false; // registration carried them
    this.lastFullAtMonoMs = monotonicMs();
    this.ackedImagesJson = null; // but no images: a new host record has none
    this.log("info", "agent.registered", { hostId: identity.hostId, heartbeatMs: this.intervalMs });
    return identity;
  }

  /** One heartbeat. Throws ControllerHttpError(401) when the host token is rejected. */
  async heartbeat(): Promise<void> {
    const id = this.identityValue;
    if (!id) throw new Error("not registered");
    const startedAtMonoMs = monotonicMs();
    const [usage, vms, images] = await Promise.all([
      this.opts.getUsage(),
      this.opts.listVms(),
      this.listImagesQuietly(),
    ]);
    const metrics = await this.metricsQuietly(vms);
    const sentAtMonoMs = monotonicMs();
    // Diff-only (absent = unchanged: the controller keeps its records): facts with the first heartbeat
    // of a run, after a failure, and every FULL_REPORT_MS; images whenever they changed, and then too.
    const full = this.sendFactsNext || sentAtMonoMs - this.lastFullAtMonoMs >= FULL_REPORT_MS;
    const imagesJson = images ? JSON.stringify(images) : null;
    const withImages = imagesJson !== null && (full || imagesJson !== this.ackedImagesJson);
    const body: Record<string, unknown> = {
      usage,
      vms,
      ...(withImages ? { images } : {}),
      ...(metrics ? { metrics } : {}),
    };
    const withFacts = full;
    if (withFacts) {
      body.facts = this.opts.getFacts();
      body.agentUrl = this.opts.agentUrl;
    }
    const raw = await this.post("/heartbeat", body, id.hostToken);
    this.noteSlowHeartbeat(startedAtMonoMs, sentAtMonoMs);
    const parsed = heartbeatResponseSchema.safeParse(raw);
    if (!parsed.success)
      this.log("warn", "controller.heartbeat_response_invalid", { error: parsed.error.issues[0]?.message });
    if (parsed.success && !this.opts.fixedHeartbeat && parsed.data.heartbeatIntervalMs > 0)
      this.intervalMs = parsed.data.heartbeatIntervalMs;
    if (parsed.success) {
      await this.renewLease(sentAtMonoMs, parsed.data.fenceAfterMs);
      for (const e of parsed.data.evict ?? []) this.startEvict(e.id, e.generation);
    }
    if (withImages) this.ackedImagesJson = imagesJson;
    if (withFacts) {
      this.lastFullAtMonoMs = sentAtMonoMs;
      this.sendFactsNext = false;
    }
    if (withFacts && !this.announced) {
      this.announced = true;
      // From here on the controller calls this agent at its current URL (tests and tools wait for it).
      this.log("info", "agent.announced", { hostId: id.hostId, agentUrl: this.opts.agentUrl });
    }
    this.lastHeartbeatAt = new Date();
    this.lastAnsweredMonoMs = monotonicMs();
  }

  /**
   * The controller declares a host offline after a few missed beats (20 s by default, 4 intervals): a
   * heartbeat that took longer than one interval is logged with where the time went — gathering the
   * report (a busy or starved event loop: an emulated agent), or the controller's answer — and how
   * long since the previous one was answered.
   */
  private noteSlowHeartbeat(startedAtMonoMs: number, sentAtMonoMs: number): void {
    const now = monotonicMs();
    if (now - startedAtMonoMs <= this.intervalMs) return;
    this.log("warn", "controller.heartbeat_slow", {
      gatherMs: Math.round(sentAtMonoMs - startedAtMonoMs),
      answerMs: Math.round(now - sentAtMonoMs),
      sinceLastMs: this.lastAnsweredMonoMs === null ? null : Math.round(now - this.lastAnsweredMonoMs),
    });
  }

  /** A lease that cannot be written is logged: the watchdog then fences when the old one lapses (the safe side). */
  private async renewLease(sentAtMonoMs: number, fenceAfterMs: number | undefined): Promise<void> {
    if (!this.opts.lease) return;
    try {
      await this.opts.lease.renew(sentAtMonoMs, fenceAfterMs);
    } catch (e) {
      this.log("error", "fence.lease_renew_failed", { error: e });
    }
  }

  /** In the background: evicting waits for the VM's lock, and a slow stop must not delay the next heartbeat (the lease). */
  private startEvict(id: string, generation: number): void {
    const evict = this.opts.evict;
    if (!evict || this.evicting.has(id)) return;
    const p = evict(id, generation)
      .then(
        (r) => this.log("info", "vm.evict_done", { id, generation, result: r ?? null }),
        (e: unknown) => this.log("error", "vm.evict_failed", { id, generation, error: e }),
      )
      .finally(() => this.evicting.delete(id));
    this.evicting.set(id, p);
  }

  /** Resolves when every eviction started so far has finished (tests, shutdown). */
  async evictionsSettled(): Promise<void> {
    await Promise.all([...this.evicting.values()]);
  }

  /** Metrics are a nice-to-have: a failure to sample never costs the heartbeat. */
  private async metricsQuietly(vms: VmStatus[]): Promise<HeartbeatMetrics | null> {
    try {
      return (await this.opts.getMetrics?.(vms)) ?? null;
    } catch (e) {
      this.log("warn", "metrics.sample_failed", { error: e });
      return null;
    }
  }

  /** A cache that cannot be read must not cost the heartbeat (VM state matters more). */
  private async listImagesQuietly(): Promise<HostImageReport[] | null> {
    if (!this.opts.listImages) return null;
    try {
      // The contract's fields only, and never more than the controller accepts.
      return (await this.opts.listImages())
        .slice(0, 10000)
        .map(({ imageId, state, sizeBytes, inUse }) => ({ imageId, state, sizeBytes, inUse }));
    } catch (e) {
      this.log("warn", "images.list_failed", { error: e });
      return null;
    }
  }

  /** Starts the register + heartbeat loop in the background. */
  start(): void {
    if (this.loopPromise) return;
    this.stopped = false;
    this.loopPromise = this.loop().catch((e) => this.log("error", "controller.loop_crashed", { error: e }));
  }

  /** Heartbeat now instead of at the end of the current wait (VM state changed). */
  nudge(): void {
    if (!this.stopped && this.identityValue && this.failures === 0) this.wake.abort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    await this.loopPromise;
    this.loopPromise = null;
    this.transport.close();
    await this.evictionsSettled();
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.wake = new AbortController();
    const signal = this.wake.signal;
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private backoffMs(): number {
    const max = this.opts.maxBackoffMs ?? 60_000;
    const base = Math.min(this.intervalMs, 5_000);
    const ms = Math.min(max, base * 2 ** Math.min(this.failures - 1, 10));
    return Math.round(ms * (0.8 + Math.random() * 0.4)); // jitter: agents restarted together spread out
  }

  private async loop(): Promise<void> {
    if (!this.identityValue) await this.loadIdentity();
    while (!this.stopped) {
      try {
        if (!this.identityValue) await this.register();
        await this.heartbeat();
        if (this.failures > 0) this.log("info", "controller.reachable", { afterFailures: this.failures });
        this.failures = 0;
        await this.sleep(this.intervalMs);
      } catch (e) {
        if (this.stopped) break;
        this.failures++;
        // What the controller holds is unknown now (a restore, a lost answer): report everything again.
        this.sendFactsNext = true;
        this.ackedImagesJson = null;
        const status = e instanceof ControllerHttpError ? e.status : null;
        if (
          status === 401 &&
          this.identityValue &&
          e instanceof ControllerHttpError &&
          e.token &&
          e.token !== this.identityValue.hostToken
        ) {
          // The token was rotated (PUT /v1/token) while this heartbeat was on its way: just send the next one.
          this.failures--;
          continue;
        }
        if (e instanceof TrustError) {
          this.log("error", "controller.untrusted", { error: e.message, failures: this.failures });
          await this.sleep(this.backoffMs());
          continue;
        }
        if (status === 401 && this.identityValue) {
          // The controller no longer knows our token (host deleted, db reset): join again.
          if (this.opts.joinToken) {
            this.log("warn", "agent.token_rejected", {
              hostId: this.identityValue.hostId,
              action: "re-registering with the join token",
            });
            this.identityValue = null;
            // Straight back in once; if a fresh token is rejected too, back off like any failure.
            if (this.failures > 1) await this.sleep(this.backoffMs());
            continue;
          }
          this.log("error", "agent.token_rejected", {
            hostId: this.identityValue.hostId,
            action: "no join token to re-register; retrying",
            error: e,
          });
        } else {
          this.log(
            this.failures <= 3 ? "warn" : "error",
            this.identityValue ? "controller.heartbeat_failed" : "controller.register_failed",
            {
              error:
                e instanceof Error
                  ? e.cause instanceof Error
                    ? `${e.message}: ${e.cause.message}`
                    : e.message
                  : String(e),
              status,
              failures: this.failures,
            },
          );
        }
        await this.sleep(this.backoffMs());
      }
    }
  }
}
