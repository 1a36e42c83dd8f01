import "server-only";
// The controller's typed client for the Agent API v1. One method per endpoint; responses are
// validated with the same zod schemas the agent uses; failures become AppErrors a user can act on.
// Agents serve HTTPS with a certificate our CA issued at registration: every call verifies the
// chain against the CA AND pins the host's own certificate fingerprint (another host's certificate
// is refused), and presents the controller's client certificate (agents accept no other caller).
import http from "node:http";
import https from "node:https";
import { z } from "zod";
import { AppError, type AppErrorCode } from "../../errors";
import {
  agentErrorSchema,
  agentHostResponseSchema,
  agentImageEvictResponseSchema,
  agentSnapshotDeleteResponseSchema,
  agentSnapshotListResponseSchema,
  agentSnapshotRevertResponseSchema,
  agentSnapshotSchema,
  DISK_EXPORT_CONTENT_TYPE,
  agentTokenPushResponseSchema,
  agentVmListResponseSchema,
  agentVolumeDeleteResponseSchema,
  agentVolumeListResponseSchema,
  agentVolumeSchema,
  type VolumeSpec,
  vmPutStreamEndSchema,
  vmStatusSchema,
  vmStepEventSchema,
  VM_PUT_STREAM_TYPE,
  type VmAction,
  type VmStepEvent,
  type VmSpecInput,
  type VmStatus,
} from "../../schemas/agent-api";
import {
  migrationAbortResponseSchema,
  migrationIncomingSchema,
  migrationOutgoingSchema,
  migrationProgressEventSchema,
  migrationReleaseResponseSchema,
  migrationResultSchema,
  migrationTargetSchema,
  type MigrationProgressEvent,
} from "../../schemas/agent-migration";
import type { PortFirewall } from "../../schemas/security-groups";
import type { RouterSpec } from "../../schemas/agent-router";
import { db } from "../platform";
import { hostTokenFor } from "./token";
import { HostOfflineError, offlineWatch } from "./offline-watch";
import { ensurePki, HOST_URI_PREFIX, normalizeFingerprint } from "../platform";
import { agentPoolFor } from "./agent-pool";
import { agentRequest, TimeoutError, type RawResponse } from "./agent-request";

export { agentRequest };

export type AgentTarget = { id: string; name: string; agentUrl: string | null; tokenGeneration: number };

// PUT may download an image first; everything else answers quickly.
const TIMEOUT_MS = { short: 30_000, put: 15 * 60_000 };
/** A live migration under TCG copies disks and memory at emulated speed; the agent gives up a stalled one itself. */
const MIGRATION_TIMEOUT_MS = 2 * 60 * 60_000;

const CODE_BY_STATUS: Record<number, AppErrorCode> = {
  400: "invalid",
  401: "unavailable",
  404: "not_found",
  409: "conflict",
  413: "too_large",
  422: "unprocessable",
  507: "insufficient_storage",
};

/** The current row wins over what the caller holds: a revoked host, a rotated token or a new certificate take effect at once. */
async function freshTarget(host: AgentTarget) {
  const row = await db().host.findUnique({
    where: { id: host.id },
    select: { name: true, agentUrl: true, tokenGeneration: true, certFingerprint: true, revokedAt: true },
  });
  if (!row) return { ...host, certFingerprint: null as string | null, revokedAt: null as Date | null };
  return { id: host.id, ...row };
}

/**
 * TLS options for calling one agent: our CA only, the host's pinned certificate (which must name
 * urn:polyarch:host:<hostId>), our client certificate. The pin replaces the server-name check:
 * host certificates carry no DNS/IP names (ADR 025).
 */
export async function agentTlsOptions(
  hostId: string,
  fingerprint: string,
  hostName = hostId,
): Promise<https.RequestOptions> {
  const pki = await ensurePki();
  return {
    ca: pki.caCertPem,
    cert: pki.controllerCertPem,
    key: pki.controllerKeyPem,
    minVersion: "TLSv1.2",
    checkServerIdentity: pinCheck(hostId, fingerprint, hostName),
  };
}

/**
 * The host check of a connection to one agent: its certificate names urn:polyarch:host:<hostId> and is
 * the pinned one. Runs after the chain verified against our CA, on every new connection (pooled ones are
 * per pin: agent-pool.ts).
 */
function pinCheck(
  hostId: string,
  fingerprint: string,
  hostName: string,
): NonNullable<https.AgentOptions["checkServerIdentity"]> {
  const pin = normalizeFingerprint(fingerprint);
  return (_servername, cert) => {
    if (!(cert.subjectaltname ?? "").split(", ").includes(`URI:${HOST_URI_PREFIX}${hostId}`)) {
      return Object.assign(new Error(`the certificate presented does not name host ${hostName} (${hostId})`), {
        code: "ERR_POLYARCH_PIN",
      });
    }
    if (normalizeFingerprint(cert.fingerprint256 ?? "") !== pin) {
      return Object.assign(
        new Error(`the certificate presented is not the one issued to host ${hostName} (pinned ${pin.slice(0, 16)}…)`),
        { code: "ERR_POLYARCH_PIN" },
      );
    }
    return undefined;
  };
}

/**
 * Splits an NDJSON stream into lines as chunks arrive and hands each step event on; the end line
 * (`result`/`error`) is read from the whole text afterwards. A malformed step line is ignored: the
 * end line still decides the outcome.
 */
function stepLines(onStep: (event: VmStepEvent) => void): (chunk: Buffer) => void {
  return eventLines(vmStepEventSchema, onStep);
}

/** The same line splitter for any event schema (migration progress). */
function eventLines<S extends z.ZodType>(schema: S, onEvent: (event: z.output<S>) => void): (chunk: Buffer) => void {
  let pending = "";
  return (chunk) => {
    pending += chunk.toString("utf8");
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const event = schema.safeParse(JSON.parse(line));
        if (event.success) onEvent(event.data);
      } catch {
        /* not an event line */
      }
    }
  };
}

/** The final answer of a streamed PUT, as if it had been a plain response. */
function streamEnd(res: RawResponse): { status: number; json: unknown } {
  const last = res.text.trimEnd().split("\n").pop() ?? "";
  try {
    const end = vmPutStreamEndSchema.safeParse(JSON.parse(last));
    if (end.success) return { status: end.data.status, json: end.data.body };
  } catch {
    /* fall through */
  }
  // The stream ended without its last line: the agent died or the connection broke mid-create.
  return {
    status: 503,
    json: { error: { code: "unavailable", message: "the agent stopped answering before the create finished" } },
  };
}

interface CallOptions {
  /** authenticate with this token instead of the host's current one (token rotation) */
  token?: string;
  /** each create step as the agent streams it */
  onStep?: (event: VmStepEvent) => void;
  /** the raw streamed body (migration progress) */
  onLines?: (chunk: Buffer) => void;
  /** give up once the host goes offline during the call (offlineWatch: a frozen or cut-off agent) */
  untilOffline?: boolean;
}

async function call<S extends z.ZodType>(
  target: AgentTarget,
  method: string,
  path: string,
  schema: S,
  body?: unknown,
  timeoutMs = TIMEOUT_MS.short,
  opts: CallOptions = {},
): Promise<z.output<S>> {
  const { token, onStep, onLines, untilOffline = false } = opts;
  const host = await freshTarget(target);
  if (host.revokedAt)
    throw new AppError({
      code: "unavailable",
      message: `Host ${host.name} was revoked; the controller no longer calls its agent.`,
    });
  if (!host.agentUrl)
    throw new AppError({ code: "unavailable", message: `Host ${host.name} has no agent address yet.` });
  const url = new URL(path, host.agentUrl);
  if (url.protocol === "https:" && !host.certFingerprint)
    throw new AppError({
      code: "unavailable",
      message: `Host ${host.name} has no certificate on record; restart its agent to register again.`,
    });
  let res: RawResponse;
  const watch = untilOffline ? offlineWatch(host.id) : null;
  try {
    res = await agentRequest(url, {
      method,
      headers: {
        authorization: `Bearer ${token ?? hostTokenFor(host.id, host.tokenGeneration)}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(onStep || onLines ? { accept: `${VM_PUT_STREAM_TYPE}, application/json` } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      timeoutMs,
      onData: onLines ?? (onStep ? stepLines(onStep) : undefined),
      agent:
        url.protocol === "https:"
          ? await agentPoolFor(host.id, host.certFingerprint!, () =>
              pinCheck(host.id, host.certFingerprint!, host.name),
            )
          : undefined,
      signal: watch?.signal,
    });
  } catch (error) {
    throw unreachable(host.name, url, error, timeoutMs);
  } finally {
    watch?.stop();
  }
  let json: unknown = null;
  if (res.contentType.startsWith(VM_PUT_STREAM_TYPE) && res.status === 200) {
    ({ status: res.status, json } = streamEnd(res));
  } else {
    try {
      json = JSON.parse(res.text);
    } catch {
      /* not JSON */
    }
  }
  if (res.status < 200 || res.status > 299) {
    const parsed = agentErrorSchema.safeParse(json);
    const message = parsed.success ? parsed.data.error.message : `HTTP ${res.status}`;
    const code = res.status === 401 ? "unavailable" : (CODE_BY_STATUS[res.status] ?? "unavailable");
    throw new AppError({
      code,
      message:
        res.status === 401
          ? `Host ${host.name} refused the controller's token; restart its agent to register again.`
          : `Host ${host.name}: ${message}`,
      details: { status: res.status },
    });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new AppError({ code: "unavailable", message: `The agent on host ${host.name} sent an unexpected answer.` });
  return parsed.data;
}

export const agentClient = {
  host: (h: AgentTarget) => call(h, "GET", "/v1/host", agentHostResponseSchema),
  listVms: (h: AgentTarget): Promise<VmStatus[]> =>
    call(h, "GET", "/v1/vms", agentVmListResponseSchema).then((r) => r.vms),
  getVm: (h: AgentTarget, id: string) => call(h, "GET", `/v1/vms/${encodeURIComponent(id)}`, vmStatusSchema),
  /** Creates or updates a VM; with `onStep`, each create step is reported as the agent completes it. */
  putVm: (h: AgentTarget, id: string, spec: VmSpecInput, onStep?: (event: VmStepEvent) => void) =>
    call(h, "PUT", vmPath(id), vmStatusSchema, spec, TIMEOUT_MS.put, { onStep, untilOffline: true }),
  action: (h: AgentTarget, id: string, action: VmAction) =>
    call(h, "POST", `${vmPath(id)}/actions`, vmStatusSchema, { action }, 120_000, { untilOffline: true }),
  /** A VM the agent does not know is already gone: 404 counts as deleted. */
  deleteVm: async (h: AgentTarget, id: string): Promise<void> => {
    try {
      await call(h, "DELETE", vmPath(id), z.unknown(), undefined, 120_000, { untilOffline: true });
    } catch (error) {
      if (error instanceof AppError && error.code === "not_found") return;
      throw error;
    }
  },
  /** A NIC's security-group firewall, replaced live (ADR 052); null removes it (the port is unfiltered). */
  putFirewall: (h: AgentTarget, vmId: string, nicId: string, fw: PortFirewall | null) =>
    call(
      h,
      fw ? "PUT" : "DELETE",
      `${vmPath(vmId)}/nics/${encodeURIComponent(nicId)}/firewall`,
      z.unknown(),
      fw ?? undefined,
    ),
  // Routers (issue 18, ADR 058/059): the VLAN's namespace on this host routes, SNATs and DNATs for its VMs.
  putRouter: (h: AgentTarget, vlan: number, spec: RouterSpec) =>
    call(h, "PUT", `/v1/routers/${vlan}`, z.unknown(), spec),
  listRouters: (h: AgentTarget) =>
    call(h, "GET", "/v1/routers", z.object({ routers: z.array(z.object({ vlan: z.number().int() }).loose()) })).then(
      (r) => r.routers,
    ),
  /** a router the agent does not have is already gone: 404 counts as deleted */
  deleteRouter: (h: AgentTarget, vlan: number) =>
    call(h, "DELETE", `/v1/routers/${vlan}`, z.unknown()).catch((error: unknown) => {
      if (error instanceof AppError && error.code === "not_found") return null;
      throw error;
    }),
  // Snapshots (issue 13): the Snapshot row's id is the agent's snapshot id. A memory snapshot
  // under TCG saves the guest's RAM at emulated speed (tens of seconds): long timeouts.
  listSnapshots: (h: AgentTarget, vmId: string) =>
    call(h, "GET", `/v1/vms/${encodeURIComponent(vmId)}/snapshots`, agentSnapshotListResponseSchema).then(
      (r) => r.snapshots,
    ),
  createSnapshot: (h: AgentTarget, vmId: string, input: { id: string; memory: boolean }) =>
    call(h, "POST", `/v1/vms/${encodeURIComponent(vmId)}/snapshots`, agentSnapshotSchema, input, SNAPSHOT_TIMEOUT_MS),
  revertSnapshot: (h: AgentTarget, vmId: string, snapshotId: string) =>
    call(
      h,
      "POST",
      `/v1/vms/${encodeURIComponent(vmId)}/snapshots/${encodeURIComponent(snapshotId)}/revert`,
      agentSnapshotRevertResponseSchema,
      {},
      SNAPSHOT_TIMEOUT_MS,
    ).then((r) => r.status),
  /** A snapshot (or VM) the agent does not know is already gone: 404 counts as deleted. */
  deleteSnapshot: async (h: AgentTarget, vmId: string, snapshotId: string): Promise<void> => {
    try {
      await call(
        h,
        "DELETE",
        `/v1/vms/${encodeURIComponent(vmId)}/snapshots/${encodeURIComponent(snapshotId)}`,
        agentSnapshotDeleteResponseSchema,
        undefined,
        SNAPSHOT_TIMEOUT_MS,
      );
    } catch (error) {
      if (error instanceof AppError && error.code === "not_found") return;
      throw error;
    }
  },
  /**
   * Streams the VM's root disk (flattened qcow2; with `snapshotId`, that snapshot) into `write`,
   * chunk by chunk with back-pressure: nothing is buffered beyond one chunk (agentDownload).
   */
  exportDisk: (
    h: AgentTarget,
    vmId: string,
    opts: { snapshotId?: string },
    write: (chunk: Buffer, contentLength: number | null) => Promise<void>,
  ) =>
    agentDownload(
      h,
      `/v1/vms/${encodeURIComponent(vmId)}/disk${opts.snapshotId ? `?snapshot=${encodeURIComponent(opts.snapshotId)}` : ""}`,
      write,
    ),
  /** Removes a cached image from the host: 404 (not cached) and 409 (a VM there uses it) reach the caller as AppErrors. */
  evictImage: (h: AgentTarget, imageId: string) =>
    call(h, "DELETE", `/v1/images/${encodeURIComponent(imageId)}`, agentImageEvictResponseSchema),
  /** Hands the agent its rotated host token, authenticated with the token it holds now. */
  pushToken: (h: AgentTarget, currentToken: string, hostToken: string, generation: number) =>
    call(h, "PUT", "/v1/token", agentTokenPushResponseSchema, { hostToken, generation }, TIMEOUT_MS.short, {
      token: currentToken,
    }),
  // Volumes (issue 13): the Volume row's id is the agent's volume id. A PUT with a source image
  // downloads and converts it first: the long timeout of a VM create.
  putVolume: (h: AgentTarget, id: string, spec: VolumeSpec) =>
    call(h, "PUT", `/v1/volumes/${encodeURIComponent(id)}`, agentVolumeSchema, spec, TIMEOUT_MS.put),
  // Migration (issue 14, lib/schemas/agent-migration.ts): the controller drives both agents.
  /** Target: prepare the paused incoming copy (image, blank disks, network, NBD exports). */
  migrationIncoming: (h: AgentTarget, id: string, input: z.input<typeof migrationIncomingSchema>) =>
    call(h, "POST", `${migrationPath(id)}/incoming`, migrationTargetSchema, input, TIMEOUT_MS.put),
  /** Source: mirror the disks and send the memory; progress lines as they come; ends paused with all sent. */
  migrationOutgoing: (
    h: AgentTarget,
    id: string,
    input: z.input<typeof migrationOutgoingSchema>,
    onProgress?: (event: MigrationProgressEvent) => void,
  ) =>
    call(h, "POST", `${migrationPath(id)}/outgoing`, migrationResultSchema, input, MIGRATION_TIMEOUT_MS, {
      onLines: eventLines(migrationProgressEventSchema, onProgress ?? (() => undefined)),
    }),
  /** Target: stop the NBD server and resume the guest. */
  migrationComplete: (h: AgentTarget, id: string) =>
    call(h, "POST", `${migrationPath(id)}/complete`, vmStatusSchema, {}, 120_000),
  /** Source: stop the paused copy and remove its files and the volumes that moved. */
  migrationRelease: (h: AgentTarget, id: string) =>
    call(h, "POST", `${migrationPath(id)}/release`, migrationReleaseResponseSchema, {}, 120_000),
  /** Source: stop mirrors and the migration; the guest keeps running there. Idempotent. */
  migrationCancel: (h: AgentTarget, id: string) =>
    call(h, "POST", `${migrationPath(id)}/cancel`, z.unknown(), {}, 120_000).then(() => undefined),
  /** Target: kill the incoming copy and remove what it received; a VM the agent does not know is aborted already. */
  migrationAbort: async (h: AgentTarget, id: string): Promise<void> => {
    try {
      await call(h, "POST", `${migrationPath(id)}/abort`, migrationAbortResponseSchema, {}, 120_000);
    } catch (error) {
      if (error instanceof AppError && error.code === "not_found") return;
      throw error;
    }
  },
  listVolumes: (h: AgentTarget) => call(h, "GET", "/v1/volumes", agentVolumeListResponseSchema).then((r) => r.volumes),
  /** A volume the agent does not know is already gone: 404 counts as deleted; 409 (still in a VM's spec) reaches the caller. */
  deleteVolume: async (h: AgentTarget, id: string): Promise<void> => {
    try {
      await call(
        h,
        "DELETE",
        `/v1/volumes/${encodeURIComponent(id)}`,
        agentVolumeDeleteResponseSchema,
        undefined,
        120_000,
      );
    } catch (error) {
      if (error instanceof AppError && error.code === "not_found") return;
      throw error;
    }
  },
};

const vmPath = (id: string) => `/v1/vms/${encodeURIComponent(id)}`;
const migrationPath = (id: string) => `/v1/vms/${encodeURIComponent(id)}/migration`;

/**
 * TLS options for a connection to one host's agent, by host id: for the custom server's console
 * proxy, which has no database of its own (an app hook, lib/server-hooks.ts, registered in startup.ts).
 */
export async function agentTlsForHost(hostId: string): Promise<https.RequestOptions> {
  const row = await db().host.findUnique({
    where: { id: hostId },
    select: { name: true, certFingerprint: true, revokedAt: true },
  });
  if (!row || row.revokedAt || !row.certFingerprint)
    throw new AppError({
      code: "unavailable",
      message: "The host of this VM has no valid certificate (revoked or not registered).",
    });
  return agentTlsOptions(hostId, row.certFingerprint, row.name);
}

// ---- streamed downloads from an agent (capture to image, issue 13) ----

/** Snapshot create/revert/delete: a memory snapshot under TCG takes tens of seconds, a big one minutes. */
const SNAPSHOT_TIMEOUT_MS = 10 * 60_000;
/** The agent flattens the disk into a temporary qcow2 before its first byte: minutes under load. */
const DOWNLOAD_HEADERS_TIMEOUT_MS = 15 * 60_000;
/** Once bytes flow, a stream that stalls this long is given up. */
const DOWNLOAD_IDLE_TIMEOUT_MS = 2 * 60_000;
/** Bytes of an error answer read before it is parsed (a JSON error body is small). */
const MAX_ERROR_BODY = 64 * 1024;

/** The AppError for a failed connection (call() and agentDownload). */
function unreachable(hostName: string, url: URL, error: unknown, timeoutMs: number): AppError {
  const code = (error as { code?: string }).code ?? "";
  const tlsProblem =
    code === "ERR_POLYARCH_PIN" ||
    /CERT|SSL|TLS|ERR_TLS|UNABLE_TO|SELF_SIGNED|HOSTNAME|ALERT/i.test(code + " " + String((error as Error).message));
  const why =
    error instanceof TimeoutError
      ? `did not answer within ${Math.round(timeoutMs / 1000)} s`
      : error instanceof HostOfflineError
        ? `stopped answering and ${error.message}; the controller gave up waiting`
        : tlsProblem
          ? `failed the TLS check (${(error as Error).message})`
          : `is not reachable at ${url.origin} (${code || (error as Error).message})`;
  return new AppError({ code: "unavailable", message: `The agent on host ${hostName} ${why}.` });
}

/** The AppError for a non-2xx answer, as call() maps it. */
function refused(hostName: string, status: number, text: string): AppError {
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const parsed = agentErrorSchema.safeParse(json);
  return new AppError({
    code: status === 401 ? "unavailable" : (CODE_BY_STATUS[status] ?? "unavailable"),
    message:
      status === 401
        ? `Host ${hostName} refused the controller's token; restart its agent to register again.`
        : `Host ${hostName}: ${parsed.success ? parsed.data.error.message : `HTTP ${status}`}`,
    details: { status },
  });
}

/**
 * GET a large body from an agent and hand it to `write` chunk by chunk: the response is paused
 * while `write` runs, so memory holds one chunk whatever the size (agentRequest buffers, up to
 * 64 MiB). Same TLS pinning and token as every call. The body must match its Content-Length: a
 * stream cut short (the agent died, the connection broke) is an error, never a short file.
 */
export async function agentDownload(
  target: AgentTarget,
  path: string,
  write: (chunk: Buffer, contentLength: number | null) => Promise<void>,
  timeouts: { headersMs?: number; idleMs?: number } = {},
): Promise<{ bytes: number }> {
  const headersMs = timeouts.headersMs ?? DOWNLOAD_HEADERS_TIMEOUT_MS;
  const idleMs = timeouts.idleMs ?? DOWNLOAD_IDLE_TIMEOUT_MS;
  const host = await freshTarget(target);
  if (host.revokedAt)
    throw new AppError({
      code: "unavailable",
      message: `Host ${host.name} was revoked; the controller no longer calls its agent.`,
    });
  if (!host.agentUrl)
    throw new AppError({ code: "unavailable", message: `Host ${host.name} has no agent address yet.` });
  const url = new URL(path, host.agentUrl);
  const secure = url.protocol === "https:";
  if (secure && !host.certFingerprint)
    throw new AppError({
      code: "unavailable",
      message: `Host ${host.name} has no certificate on record; restart its agent to register again.`,
    });
  const tls = secure ? await agentTlsOptions(host.id, host.certFingerprint!, host.name) : {};
  const headers = {
    authorization: `Bearer ${hostTokenFor(host.id, host.tokenGeneration)}`,
    accept: `${DISK_EXPORT_CONTENT_TYPE}, application/json`,
  };
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let waitingMs = headersMs;
    const arm = (ms: number) => {
      clearTimeout(timer);
      waitingMs = ms;
      timer = setTimeout(() => req.destroy(new TimeoutError("timeout")), ms);
    };
    const fail = (error: unknown) => {
      clearTimeout(timer);
      req.destroy();
      reject(error instanceof AppError ? error : unreachable(host.name, url, error, waitingMs));
    };
    const req = (secure ? https : http).request(url, { method: "GET", headers, agent: false, ...tls }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if ((size += c.length) <= MAX_ERROR_BODY) chunks.push(c);
        });
        res.on("end", () => fail(refused(host.name, status, Buffer.concat(chunks).toString("utf8"))));
        res.on("error", fail);
        return;
      }
      const header = res.headers["content-length"];
      const expected = header !== undefined && /^\d+$/.test(header) ? Number(header) : null;
      void (async () => {
        let bytes = 0;
        arm(idleMs);
        for await (const chunk of res as AsyncIterable<Buffer>) {
          arm(idleMs);
          bytes += chunk.length;
          if (expected !== null && bytes > expected)
            throw new AppError({
              code: "unavailable",
              message: `The agent on host ${host.name} sent more than the ${expected} bytes it announced.`,
            });
          await write(chunk, expected);
        }
        if (expected !== null && bytes !== expected)
          throw new AppError({
            code: "unavailable",
            message: `The agent on host ${host.name} stopped after ${bytes} of ${expected} bytes.`,
          });
        clearTimeout(timer);
        resolve({ bytes });
      })().catch(fail);
    });
    arm(headersMs);
    req.on("error", fail);
    req.end();
  });
}
