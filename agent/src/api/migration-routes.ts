// The agent API's migration routes (ADR 035; protocol: lib/schemas/agent-migration.ts):
// POST /v1/vms/:id/migration/{incoming,outgoing,complete,cancel,abort,release} and
// GET|PUT /v1/vms/:id/disks/:disk. server.ts authenticates and validates the VM id, then calls
// handleMigrationRoute. cancel and abort answer 200 {id, aborted: true} also for a VM this host
// does not know (idempotent), release answers 200 {id, released: true} likewise.
import fs from "node:fs";
import type http from "node:http";
import { pipeline } from "node:stream/promises";
import type { z } from "zod";
import {
  DISK_EXPORT_CONTENT_TYPE,
  VM_PUT_STREAM_TYPE,
  type VmSpec,
  type VmStatus,
} from "../../../lib/schemas/agent-api";
import {
  DISK_SHA256_HEADER,
  type DiskName,
  diskNameSchema,
  diskTransferHeadersSchema,
  migrationIncomingSchema,
  migrationOutgoingSchema,
  type MigrationIncoming,
  type MigrationOutgoing,
  type MigrationProgressEvent,
  type MigrationResult,
  type MigrationTarget,
} from "../../../lib/schemas/agent-migration";
import type { Logger } from "../util";

/** What the routes need from the VM manager's `migrations` (agent/src/migration satisfies it). */
export interface MigrationBackend {
  incoming(id: string, input: MigrationIncoming, listenHost: string): Promise<MigrationTarget>;
  outgoing(
    id: string,
    input: MigrationOutgoing,
    onProgress: (e: MigrationProgressEvent) => void,
  ): Promise<MigrationResult>;
  complete(id: string): Promise<VmStatus>;
  cancel(id: string): Promise<void>;
  abort(id: string): Promise<void>;
  release(id: string): Promise<void>;
  diskDownload(
    id: string,
    disk: DiskName,
  ): Promise<{ path: string; sizeBytes: number; sha256: string; cleanup(): Promise<void> }>;
  diskUpload(
    id: string,
    disk: DiskName,
    body: NodeJS.ReadableStream,
    declared: { sha256: string; sizeBytes: number },
  ): Promise<unknown>;
}

/** Helpers server.ts lends (it owns body parsing, error mapping and the fit check). */
export interface MigrationRouteDeps {
  migrations: MigrationBackend | undefined;
  readJson(req: http.IncomingMessage): Promise<unknown>;
  send(res: http.ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void;
  /** status, code and message of a known error; null for an unexpected one */
  describe(err: unknown): { status: number; code: string; message: string } | null;
  /** the arch / size refusals of PUT /v1/vms/:id */
  checkFits(spec: VmSpec): void;
  log: Logger;
}

/** An error with the HTTP status server.ts maps it to (it reads `code` and `httpStatus`). */
class RouteError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: "invalid" | "not_found",
    message: string,
  ) {
    super(message);
  }
}

const OPS = ["incoming", "outgoing", "complete", "cancel", "abort", "release"] as const;

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const msg = r.error.issues
      .slice(0, 5)
      .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
      .join("; ");
    throw new RouteError(400, "invalid", `invalid ${what}: ${msg}`);
  }
  return r.data;
}

/** The address the controller reached us on: the target's QEMU listens there (IPv4-mapped shown plain). */
function localHost(req: http.IncomingMessage): string {
  const a = req.socket.localAddress ?? "127.0.0.1";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}

export async function handleMigrationRoute(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  r: { name: "migration"; op: string } | { name: "vmDisk"; rawDisk: string },
  id: string,
  deps: MigrationRouteDeps,
): Promise<void> {
  const m = deps.migrations;
  if (!m) throw new RouteError(404, "not_found", "this agent does not support migration");
  if (r.name === "vmDisk") return diskRoute(req, res, id, r.rawDisk, m, deps);
  const op = OPS.find((o) => o === r.op);
  if (!op)
    throw new RouteError(404, "not_found", `no migration operation ${r.op.slice(0, 40)} (one of ${OPS.join(", ")})`);
  switch (op) {
    case "incoming": {
      const input = parse(migrationIncomingSchema, await deps.readJson(req), "incoming migration");
      deps.checkFits(input.spec);
      return deps.send(res, 201, await m.incoming(id, input, localHost(req)));
    }
    case "outgoing": {
      const input = parse(migrationOutgoingSchema, await deps.readJson(req), "outgoing migration");
      return streamOutgoing(res, (onProgress) => m.outgoing(id, input, onProgress), deps);
    }
    case "complete":
      return deps.send(res, 200, await m.complete(id));
    case "cancel":
      await m.cancel(id);
      return deps.send(res, 200, { id, aborted: true });
    case "abort":
      await m.abort(id);
      return deps.send(res, 200, { id, aborted: true });
    case "release":
      await m.release(id);
      return deps.send(res, 200, { id, released: true });
  }
}

/**
 * ndjson like PUT /v1/vms/:id: progress lines, then one `result` or `error` line. A refusal
 * before the first progress line keeps its plain JSON error and HTTP status (409 and the like).
 */
async function streamOutgoing(
  res: http.ServerResponse,
  run: (onProgress: (e: MigrationProgressEvent) => void) => Promise<MigrationResult>,
  deps: MigrationRouteDeps,
): Promise<void> {
  const line = (value: unknown) => {
    if (!res.headersSent)
      res.writeHead(200, { "content-type": `${VM_PUT_STREAM_TYPE}; charset=utf-8`, "cache-control": "no-store" });
    if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(value) + "\n");
  };
  try {
    const result = await run(line);
    line({ type: "result", status: 200, body: result });
  } catch (err) {
    if (!res.headersSent) throw err;
    const known = deps.describe(err);
    line({
      type: "error",
      status: known?.status ?? 500,
      body: { error: { code: known?.code ?? "internal", message: known?.message ?? "internal agent error" } },
    });
  }
  res.end();
}

async function diskRoute(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  id: string,
  rawDisk: string,
  m: MigrationBackend,
  deps: MigrationRouteDeps,
): Promise<void> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawDisk);
  } catch {
    throw new RouteError(400, "invalid", "invalid disk name: bad percent-encoding");
  }
  const disk = parse(diskNameSchema, decoded, "disk name");
  if (req.method === "PUT") {
    // A refusal before the body is read: close the connection rather than read GiBs for nothing.
    res.setHeader("connection", "close");
    const declared = parse(
      diskTransferHeadersSchema,
      { sha256: req.headers[DISK_SHA256_HEADER], sizeBytes: Number(req.headers["content-length"] ?? NaN) },
      `disk upload headers (${DISK_SHA256_HEADER} and content-length are required)`,
    );
    const body = await m.diskUpload(id, disk, req, declared);
    res.removeHeader("connection");
    return deps.send(res, 201, body);
  }
  const d = await m.diskDownload(id, disk);
  try {
    res.writeHead(200, {
      "content-type": DISK_EXPORT_CONTENT_TYPE,
      "content-length": String(d.sizeBytes),
      [DISK_SHA256_HEADER]: d.sha256,
      "cache-control": "no-store",
    });
    await pipeline(fs.createReadStream(d.path), res);
  } catch (err) {
    res.destroy(); // the client sees a short body; its Content-Length says so
    deps.log("warn", "api.disk_transfer_aborted", {
      vmId: id,
      disk,
      error: err instanceof Error ? err.message : String(err),
    });
  } finally {
    await d.cleanup().catch(() => {});
  }
}
