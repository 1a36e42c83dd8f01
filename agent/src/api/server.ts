// Agent API v1 on node:http. The controller is the only client; every route but /v1/health
// needs the host token. Requests are validated completely before anything touches the disk.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { pipeline } from "node:stream/promises";
import type { AddressInfo } from "node:net";
import type tls from "node:tls";
import type { Duplex } from "node:stream";
import { z } from "zod";
import {
  agentTokenPushSchema,
  DISK_EXPORT_CONTENT_TYPE,
  safeIdSchema,
  snapshotCreateSchema,
  vmActionSchema,
  vmSpecSchema,
  VM_PUT_STREAM_TYPE,
  volumeSpecSchema,
  type AgentSnapshot,
  type AgentVolume,
  type HostFacts,
  type HostImageReport,
  type VmAction,
  type VmSpec,
  type VmStatus,
  type VmStepEvent,
  type VolumeSpec,
} from "../../../lib/schemas/agent-api";
import {
  acceptUpgrade,
  type ConsolePaths,
  HandshakeError,
  rejectUpgrade,
  SerialConsoles,
  VncBridges,
} from "../console";
import { isControllerPeer, SERVER_TLS_OPTIONS } from "../controller";
import { AGENT_VERSION, archRefusal, type HostUsage } from "../host";
import { type Logger, silentLogger } from "../util";
import type { TokenVerifier } from "./auth";
import { type FirewallBackend, handleFirewallRoute } from "./firewall-routes";
import { handleMigrationRoute, type MigrationBackend } from "./migration-routes";
import { HttpError, readJson } from "./body";
import { handleRouterRoute, type RouterBackend } from "./router-routes";
import { ALLOWED, route } from "./routes";

export { HttpError };

export const MAX_BODY_BYTES = 1024 * 1024;

/** node:http for --insecure-http and unit tests; node:https (mutual TLS) for a real agent. */
export type AgentServer = http.Server | https.Server;

const consolesByServer = new WeakMap<AgentServer, { closeAll(): void }[]>();

/** What the server needs from the VM manager (agent/src/vm/manager.ts satisfies it). */
export interface VmBackend {
  list(): Promise<VmStatus[]>;
  get(id: string): Promise<VmStatus>;
  apply(
    id: string,
    spec: VmSpec,
    onStep?: (event: VmStepEvent) => void,
  ): Promise<{ created: boolean; changed?: boolean; status: VmStatus }>;
  action(id: string, action: VmAction): Promise<VmStatus>;
  delete(id: string): Promise<unknown>;
  /** serial socket + log of a VM (throws not_found); without it there is no console endpoint */
  consolePaths?(id: string): Promise<ConsolePaths>;
  // Storage (issue 13); a backend without them answers 404 on those routes.
  listVolumes?(): Promise<AgentVolume[]>;
  putVolume?(id: string, spec: VolumeSpec): Promise<{ created: boolean; volume: AgentVolume }>;
  deleteVolume?(id: string): Promise<void>;
  snapshots?(id: string): Promise<AgentSnapshot[]>;
  createSnapshot?(id: string, input: { id: string; memory: boolean }): Promise<AgentSnapshot>;
  revertSnapshot?(id: string, snapshotId: string): Promise<VmStatus>;
  deleteSnapshot?(id: string, snapshotId: string): Promise<void>;
  /** a flattened copy of the root disk in a temporary file, removed by cleanup() */
  exportDisk?(id: string, opts: { snapshotId?: string }): Promise<ExportedDiskFile>;
  /** live and cold moves (issue 14, migration-routes.ts); absent = 404 on those routes */
  migrations?: MigrationBackend;
}

export interface ExportedDiskFile {
  path: string;
  sizeBytes: number;
  cleanup(): Promise<void>;
}

/** GET /v1/vms/:id/disk[?snapshot=<sid>] */
const diskQuerySchema = z.object({ snapshot: safeIdSchema.optional() }).strict();

/** `?write=0` makes a console read-only; anything but 0/1 is refused. */
const consoleQuerySchema = z.object({ write: z.enum(["0", "1"]).default("1") }).strict();

/** What the server needs from the image cache (agent/src/images/image-cache.ts satisfies it). */
export interface ImageBackend {
  list(): Promise<HostImageReport[]>;
  evict(imageId: string): Promise<{ imageId: string; evicted: true; freedBytes: number }>;
}

export interface AgentServerOptions {
  facts: () => HostFacts;
  usage: () => Promise<HostUsage>;
  vms: VmBackend;
  /** absent on an agent without a controller: nothing is ever cached there */
  images?: ImageBackend | null;
  auth: TokenVerifier;
  log?: Logger;
  /** extra, non-secret fields for /v1/health (e.g. registered: true) */
  health?: () => Record<string, unknown>;
  /**
   * Serve HTTPS: `context` is the agent's key + certificate + the cluster CA (null until the first
   * registration: handshakes fail until setSecureContext installs one). Clients must present a
   * certificate from that CA with the controller's name, else the connection is dropped.
   */
  tls?: { context: tls.SecureContextOptions | null } | null;
  /** PUT /v1/token: the controller hands over the rotated host token */
  acceptToken?: (hostToken: string) => Promise<void>;
  maxBodyBytes?: number;
  /** security groups on the VMs' NIC ports (firewall-routes.ts); absent = 404 on that route */
  firewall?: FirewallBackend;
  /** routers, SNAT and floating IPs (router-routes.ts, ADR 058); absent = none (PUT answers 409) */
  routers?: RouterBackend;
}

const AGENT_ERROR_STATUS: Record<string, number> = {
  invalid: 422,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  insufficient_storage: 507,
};

/** AgentError (vm/errors.ts), ImageCacheError and anything else carrying an AgentError code. */
function statusOf(err: unknown): { status: number; code: string; message: string } | null {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const httpStatus = (err as { httpStatus?: unknown }).httpStatus;
    if (typeof code === "string" && code in AGENT_ERROR_STATUS) {
      return {
        status: typeof httpStatus === "number" ? httpStatus : AGENT_ERROR_STATUS[code]!,
        code,
        message: err.message,
      };
    }
  }
  return null;
}

function zodMessage(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
}

/**
 * PUT /v1/vms/:id with `Accept: application/x-ndjson`: each create step is written as one JSON line
 * the moment it happens, then one `result` or `error` line. A failure before the first step keeps
 * the plain JSON error with its HTTP status (validation refusals look the same on both paths).
 */
async function applyStreaming(
  res: http.ServerResponse,
  apply: (onStep: (event: VmStepEvent) => void) => Promise<{ created: boolean; status: VmStatus }>,
): Promise<void> {
  const line = (value: unknown) => {
    if (!res.headersSent)
      res.writeHead(200, { "content-type": `${VM_PUT_STREAM_TYPE}; charset=utf-8`, "cache-control": "no-store" });
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(value) + "\n");
  };
  try {
    const result = await apply((event) => line(event));
    if (!res.headersSent) return send(res, result.created ? 201 : 200, result.status);
    line({ type: "result", status: result.created ? 201 : 200, body: result.status });
  } catch (err) {
    if (!res.headersSent) throw err;
    const known = statusOf(err);
    line({
      type: "error",
      status: known?.status ?? 500,
      body: { error: { code: known?.code ?? "internal", message: known?.message ?? "internal agent error" } },
    });
  }
  res.end();
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** Reads a JSON body with a hard size cap (checked on Content-Length and on the bytes). */

/** The backend's (optional) storage method, or 404 from an agent without it. */
function need<T>(fn: T | undefined, what: string): T {
  if (!fn) throw new HttpError(404, "not_found", `this agent does not support ${what}`);
  return fn;
}

/** Raw path id -> validated id. Works on the undecoded URL so `..` and `%2F` cannot be normalised away. */
function parseId(raw: string, what = "VM"): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "invalid", `invalid ${what} id: bad percent-encoding`);
  }
  const r = safeIdSchema.safeParse(decoded);
  if (!r.success) throw new HttpError(400, "invalid", `invalid ${what} id: ${r.error.issues[0]?.message ?? "bad id"}`);
  return r.data;
}

export function createAgentServer(opts: AgentServerOptions): AgentServer {
  const log = opts.log ?? silentLogger;
  const limit = opts.maxBodyBytes ?? MAX_BODY_BYTES;

  /** 409 / 422 from the facts, before the VM manager (and the disk) sees the spec. */
  function checkFits(spec: VmSpec): void {
    const facts = opts.facts();
    const refusal = archRefusal(facts, spec.arch, spec.allowEmulation);
    if (refusal) throw new HttpError(409, "conflict", refusal);
    const native = facts.nativeArches.includes(spec.arch);
    const maxVcpus = native ? facts.maxVcpusNative : facts.maxVcpusEmulated;
    if (maxVcpus !== null && spec.vcpus > maxVcpus) {
      throw new HttpError(
        422,
        "invalid",
        `${spec.vcpus} vCPUs requested; this host allows at most ${maxVcpus} for ${spec.arch} (${native ? "native" : "emulated"})`,
      );
    }
    if (spec.memoryMb > facts.memoryMb) {
      throw new HttpError(
        422,
        "invalid",
        `${spec.memoryMb} MiB of memory requested; this host has ${facts.memoryMb} MiB in total`,
      );
    }
    if (spec.diskGb > facts.diskGb) {
      throw new HttpError(
        422,
        "invalid",
        `${spec.diskGb} GB disk requested; the agent's filesystem has ${facts.diskGb} GB in total`,
      );
    }
  }

  const readBody = (req: http.IncomingMessage) => readJson(req, limit);
  const migrationDeps = {
    migrations: opts.vms.migrations,
    readJson: readBody,
    send,
    describe: statusOf,
    checkFits,
    log,
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const r = route(req.url ?? "/");
    if (!r) throw new HttpError(404, "not_found", `no route ${method} ${(req.url ?? "").split("?")[0]}`);
    if (!ALLOWED[r.name].includes(method)) {
      res.setHeader("allow", ALLOWED[r.name].join(", "));
      throw new HttpError(
        405,
        "method_not_allowed",
        `${method} is not allowed here (allowed: ${ALLOWED[r.name].join(", ")})`,
      );
    }
    if (r.name === "health") {
      const f = opts.facts();
      return send(res, 200, { ok: true, agentVersion: AGENT_VERSION, arch: f.arch, ...(opts.health?.() ?? {}) });
    }
    if (!opts.auth.verifyHeader(req.headers.authorization)) {
      throw new HttpError(401, "unauthorized", "missing or invalid bearer token");
    }
    // ids are checked after auth: an unauthenticated caller learns nothing about our rules.
    const id =
      r.name === "image"
        ? parseId(r.rawId, "image")
        : r.name === "volume"
          ? parseId(r.rawId, "volume")
          : "rawId" in r
            ? parseId(r.rawId)
            : "";
    const sid = "rawSid" in r ? parseId(r.rawSid, "snapshot") : "";
    switch (r.name) {
      case "console":
      case "vnc":
        throw new HttpError(426, "upgrade_required", "the console is a WebSocket: send Upgrade: websocket");
      case "host":
        return send(res, 200, { facts: opts.facts(), usage: await opts.usage() });
      case "vms":
        return send(res, 200, { vms: await opts.vms.list() });
      case "vm":
        if (method === "GET") return send(res, 200, await opts.vms.get(id));
        if (method === "DELETE") {
          await opts.vms.delete(id);
          return send(res, 200, { id, deleted: true });
        }
        {
          const body = await readJson(req, limit);
          const parsed = vmSpecSchema.safeParse(body);
          if (!parsed.success) throw new HttpError(400, "invalid", `invalid VM spec: ${zodMessage(parsed.error)}`);
          checkFits(parsed.data);
          if (!String(req.headers.accept ?? "").includes(VM_PUT_STREAM_TYPE)) {
            const result = await opts.vms.apply(id, parsed.data);
            return send(res, result.created ? 201 : 200, result.status);
          }
          return applyStreaming(res, (onStep) => opts.vms.apply(id, parsed.data, onStep));
        }
      case "token": {
        if (!opts.acceptToken)
          throw new HttpError(404, "not_found", "this agent has no controller to take a token from");
        const parsed = agentTokenPushSchema.safeParse(await readJson(req, limit));
        if (!parsed.success) throw new HttpError(400, "invalid", `invalid token: ${zodMessage(parsed.error)}`);
        await opts.acceptToken(parsed.data.hostToken);
        return send(res, 200, { ok: true });
      }
      case "images": {
        const images = opts.images ? await opts.images.list() : [];
        // Only the contract's fields: CachedImage carries internals (LRU time, VM names).
        return send(res, 200, {
          images: images.map(({ imageId, state, sizeBytes, inUse }) => ({ imageId, state, sizeBytes, inUse })),
        });
      }
      case "image":
        if (!opts.images) throw new HttpError(404, "not_found", `image ${id} is not cached on this host`);
        return send(res, 200, await opts.images.evict(id));
      case "actions": {
        const body = await readJson(req, limit);
        const parsed = vmActionSchema.safeParse(body);
        if (!parsed.success) throw new HttpError(400, "invalid", `invalid action: ${zodMessage(parsed.error)}`);
        return send(res, 200, await opts.vms.action(id, parsed.data.action));
      }
      case "volumes":
        return send(res, 200, { volumes: await need(opts.vms.listVolumes, "volumes").call(opts.vms) });
      case "volume": {
        if (method === "DELETE") {
          await need(opts.vms.deleteVolume, "volumes").call(opts.vms, id);
          return send(res, 200, { id, deleted: true });
        }
        const put = need(opts.vms.putVolume, "volumes");
        const parsed = volumeSpecSchema.safeParse(await readJson(req, limit));
        if (!parsed.success) throw new HttpError(400, "invalid", `invalid volume spec: ${zodMessage(parsed.error)}`);
        if (parsed.data.sizeGb > opts.facts().diskGb)
          throw new HttpError(
            422,
            "invalid",
            `${parsed.data.sizeGb} GB volume requested; the agent's filesystem has ${opts.facts().diskGb} GB in total`,
          );
        const result = await put.call(opts.vms, id, parsed.data);
        return send(res, result.created ? 201 : 200, result.volume);
      }
      case "snapshots": {
        if (method === "GET")
          return send(res, 200, { snapshots: await need(opts.vms.snapshots, "snapshots").call(opts.vms, id) });
        const create = need(opts.vms.createSnapshot, "snapshots");
        const parsed = snapshotCreateSchema.safeParse(await readJson(req, limit));
        if (!parsed.success) throw new HttpError(400, "invalid", `invalid snapshot: ${zodMessage(parsed.error)}`);
        return send(res, 201, await create.call(opts.vms, id, parsed.data));
      }
      case "snapshot":
        await need(opts.vms.deleteSnapshot, "snapshots").call(opts.vms, id, sid);
        return send(res, 200, { id: sid, deleted: true });
      case "revert":
        return send(res, 200, { status: await need(opts.vms.revertSnapshot, "snapshots").call(opts.vms, id, sid) });
      case "disk":
        return sendDisk(req, res, id);
      case "firewall":
        return handleFirewallRoute(req, res, id, r.rawNic, {
          firewall: opts.firewall,
          vmExists: (vmId) => opts.vms.get(vmId),
          readJson: readBody,
          send,
        });
      case "routers":
      case "router":
        return handleRouterRoute(req, res, r.name === "router" ? r.rawVlan : null, {
          routers: opts.routers,
          readJson: readBody,
          send,
        });
      case "migration":
      case "vmDisk":
        return handleMigrationRoute(req, res, r, id, migrationDeps);
    }
  }

  /** Streams the exported disk with its length; the temporary file goes also when the client gives up. */
  async function sendDisk(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    const q = diskQuerySchema.safeParse(Object.fromEntries(new URLSearchParams((req.url ?? "").split("?")[1] ?? "")));
    if (!q.success) throw new HttpError(400, "invalid", `invalid disk query: ${zodMessage(q.error)}`);
    const exported = await need(opts.vms.exportDisk, "disk export").call(opts.vms, id, {
      ...(q.data.snapshot ? { snapshotId: q.data.snapshot } : {}),
    });
    try {
      res.writeHead(200, {
        "content-type": DISK_EXPORT_CONTENT_TYPE,
        "content-length": String(exported.sizeBytes),
        "cache-control": "no-store",
      });
      await pipeline(fs.createReadStream(exported.path), res);
    } catch (err) {
      // Headers are out: the client sees a short body (its Content-Length says so), we log why.
      res.destroy();
      log("warn", "api.disk_export_aborted", { vmId: id, error: err instanceof Error ? err.message : String(err) });
    } finally {
      await exported
        .cleanup()
        .catch((err: unknown) =>
          log("error", "api.disk_export_cleanup_failed", { vmId: id, path: exported.path, error: err }),
        );
    }
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = Date.now();
    const method = req.method ?? "GET";
    const pathOnly = (req.url ?? "").split("?")[0]?.slice(0, 200);
    handle(req, res)
      .then(() => {
        if (method !== "GET")
          log("info", "api.request", { method, path: pathOnly, status: res.statusCode, ms: Date.now() - started });
      })
      .catch((err: unknown) => {
        const known = statusOf(err);
        if (known) {
          const headers: Record<string, string> = known.status === 413 ? { connection: "close" } : {};
          send(res, known.status, { error: { code: known.code, message: known.message } }, headers);
          log(known.status >= 500 ? "error" : "warn", "api.request", {
            method,
            path: pathOnly,
            status: known.status,
            code: known.code,
            error: known.message,
            ms: Date.now() - started,
          });
        } else {
          // Details stay in the log; the client gets a generic message.
          send(res, 500, { error: { code: "internal", message: "internal agent error" } });
          log("error", "api.request", {
            method,
            path: pathOnly,
            status: 500,
            error: err instanceof Error ? (err.stack ?? err.message) : String(err),
            ms: Date.now() - started,
          });
        }
      });
  };
  const server: AgentServer = opts.tls
    ? https.createServer({ ...SERVER_TLS_OPTIONS, ...(opts.tls.context ?? {}) }, onRequest)
    : http.createServer(onRequest);
  if (opts.tls) {
    // The CA also signs every host's certificate: only the controller's may call an agent.
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      if (!isControllerPeer(socket)) {
        log("warn", "api.client_refused", {
          remote: socket.remoteAddress,
          reason: socket.authorizationError ? String(socket.authorizationError) : "not the controller's certificate",
        });
        socket.destroy();
      }
    });
    server.on("tlsClientError", (err: Error, socket: tls.TLSSocket) =>
      log("warn", "api.tls_refused", { remote: socket.remoteAddress, error: err.message }),
    );
  }
  if (opts.vms.consolePaths) {
    const consoles = new SerialConsoles({ log });
    const vnc = new VncBridges({ log });
    consolesByServer.set(server, [consoles, vnc]);
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", () => {}); // a client vanishing mid-handshake must not crash the agent
      const pathOnly = (req.url ?? "").split("?")[0]?.slice(0, 200);
      upgradeConsole(req, socket, head, consoles, vnc).catch((err: unknown) => {
        const known =
          err instanceof HandshakeError ? { status: err.status, code: "invalid", message: err.message } : statusOf(err);
        if (known) {
          rejectUpgrade(socket, known.status, { error: { code: known.code, message: known.message } });
          log("warn", "console.refused", { path: pathOnly, status: known.status, error: known.message });
        } else {
          rejectUpgrade(socket, 500, { error: { code: "internal", message: "internal agent error" } });
          log("error", "console.refused", {
            path: pathOnly,
            status: 500,
            error: err instanceof Error ? (err.stack ?? err.message) : String(err),
          });
        }
      });
    });
  }

  /**
   * GET /v1/vms/:id/console (Upgrade): host token, then scrollback + live serial both ways.
   * GET /v1/vms/:id/vnc (Upgrade): the VM's VNC server as binary frames (ADR 013); 409 without a display.
   */
  async function upgradeConsole(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    consoles: SerialConsoles,
    vnc: VncBridges,
  ): Promise<void> {
    const url = req.url ?? "/";
    const r = route(url);
    if (!r || (r.name !== "console" && r.name !== "vnc"))
      throw new HttpError(404, "not_found", "no WebSocket endpoint here");
    if (!opts.auth.verifyHeader(req.headers.authorization))
      throw new HttpError(401, "unauthorized", "missing or invalid bearer token");
    const id = parseId(r.rawId);
    const q = consoleQuerySchema.safeParse(Object.fromEntries(new URLSearchParams(url.split("?")[1] ?? "")));
    if (!q.success) throw new HttpError(400, "invalid", `invalid console query: ${zodMessage(q.error)}`);
    if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "a WebSocket upgrade needs GET");
    const paths = await opts.vms.consolePaths!(id);
    if (socket.destroyed) return;
    const write = q.data.write === "1";
    if (r.name === "vnc") {
      const vncSocket = paths.vncSocket;
      if (!vncSocket) throw new HttpError(409, "conflict", `VM ${id} has no graphical display; use the serial console`);
      const ws = acceptUpgrade(req, socket, head, {
        pingMs: 25_000,
        maxMessage: 2 * 1024 * 1024,
        maxBuffered: 32 * 1024 * 1024,
      });
      ws.on("close", (code) => log("info", "vnc.closed", { vmId: id, write, code }));
      await vnc.attach(id, vncSocket, ws, write);
      return;
    }
    const ws = acceptUpgrade(req, socket, head, { pingMs: 25_000, maxMessage: 64 * 1024 });
    ws.on("close", (code) => log("info", "console.closed", { vmId: id, write, code }));
    await consoles.attach(id, paths, ws, write);
  }

  server.headersTimeout = 30_000;
  // No whole-request cap: a cold migration's disk PUT streams GiB (its own idle timer cuts a stalled
  // sender); JSON bodies have their own deadline in readJson.
  server.requestTimeout = 0;
  return server;
}

export async function listen(server: AgentServer, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** Stops accepting, lets in-flight requests finish for a moment, then drops idle keep-alives. */
export async function closeServer(server: AgentServer, graceMs = 5_000): Promise<void> {
  for (const c of consolesByServer.get(server) ?? []) c.closeAll(); // upgraded sockets would otherwise hold close() open
  const done = new Promise<void>((r) => server.close(() => r()));
  server.closeIdleConnections();
  const t = setTimeout(() => server.closeAllConnections(), graceMs);
  await done;
  clearTimeout(t);
}
