import "server-only";
// A cold move's disk transfer (ADR 035): source GET /v1/vms/:id/disks/:disk streams a standalone
// qcow2 with its SHA-256 in a header; the controller pipes it unchanged into the target's PUT of
// the same path, which verifies length and hash before it keeps anything. Nothing is buffered
// beyond one chunk; both ends use the same pinned TLS and host tokens as every agent call.
import http from "node:http";
import https from "node:https";
import { AppError } from "../../errors";
import { agentErrorSchema } from "../../schemas/agent-api";
import { DISK_SHA256_HEADER, diskTransferHeadersSchema, type DiskName } from "../../schemas/agent-migration";
import { z } from "zod";
import { agentTlsOptions, hostTokenFor } from "../hosts";
import { db } from "../platform";

/** No byte for this long on either side: the copy is given up (the source flattens before its first byte). */
const IDLE_MS = 15 * 60_000;

const receivedSchema = z.object({ sizeBytes: z.number().int(), sha256: z.string() });

type Endpoint = { url: URL; headers: Record<string, string>; tls: https.RequestOptions; name: string };

async function endpoint(hostId: string, path: string): Promise<Endpoint> {
  const row = await db().host.findUnique({ where: { id: hostId } });
  if (!row || row.revokedAt || !row.agentUrl)
    throw new AppError({ code: "unavailable", message: `Host ${row?.name ?? hostId} has no usable agent.` });
  const url = new URL(path, row.agentUrl);
  if (url.protocol === "https:" && !row.certFingerprint)
    throw new AppError({ code: "unavailable", message: `Host ${row.name} has no certificate on record.` });
  return {
    url,
    name: row.name,
    headers: { authorization: `Bearer ${hostTokenFor(row.id, row.tokenGeneration)}` },
    tls: url.protocol === "https:" ? await agentTlsOptions(row.id, row.certFingerprint!, row.name) : {},
  };
}

function agentError(name: string, status: number, text: string): AppError {
  let message = `HTTP ${status}`;
  try {
    const parsed = agentErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) message = parsed.data.error.message;
  } catch {
    /* not JSON */
  }
  return new AppError({
    code: status === 409 ? "conflict" : status === 507 ? "insufficient_storage" : "unavailable",
    message: `Host ${name}: ${message}`,
  });
}

function request(e: Endpoint, method: string, extra: Record<string, string>) {
  const mod = e.url.protocol === "https:" ? https : http;
  return mod.request(e.url, { method, headers: { ...e.headers, ...extra }, agent: false, ...e.tls });
}

/**
 * Copies one disk of `vmId` from `sourceId` to `targetId`. Resolves with what the target stored
 * (its length and SHA-256, equal to what the source declared); `signal` aborts both streams.
 */
export async function copyDisk(
  sourceId: string,
  targetId: string,
  vmId: string,
  disk: DiskName,
  signal?: AbortSignal,
): Promise<{ sizeBytes: number; sha256: string }> {
  const path = `/v1/vms/${encodeURIComponent(vmId)}/disks/${encodeURIComponent(disk)}`;
  const src = await endpoint(sourceId, path);
  const dst = await endpoint(targetId, path);
  return new Promise((resolve, reject) => {
    let settled = false;
    const get = request(src, "GET", { accept: "application/octet-stream, application/json" });
    let put: http.ClientRequest | null = null;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      get.destroy();
      put?.destroy();
      reject(
        error instanceof AppError
          ? error
          : new AppError({ code: "unavailable", message: `Copying disk ${disk}: ${(error as Error).message}` }),
      );
    };
    const onAbort = () => fail(new AppError({ code: "conflict", message: "the migration was cancelled" }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    get.setTimeout(IDLE_MS, () => fail(new Error(`host ${src.name} sent nothing for ${IDLE_MS / 60_000} minutes`)));
    get.on("error", fail);
    get.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        let text = "";
        res.on("data", (c: Buffer) => void (text.length < 65536 && (text += c.toString("utf8"))));
        res.on("end", () => fail(agentError(src.name, status, text)));
        return;
      }
      const declared = diskTransferHeadersSchema.safeParse({
        sha256: res.headers[DISK_SHA256_HEADER],
        sizeBytes: Number(res.headers["content-length"]),
      });
      if (!declared.success)
        return fail(new Error(`host ${src.name} sent no valid ${DISK_SHA256_HEADER} / content-length`));
      put = request(dst, "PUT", {
        "content-type": "application/octet-stream",
        "content-length": String(declared.data.sizeBytes),
        [DISK_SHA256_HEADER]: declared.data.sha256,
      });
      put.setTimeout(IDLE_MS, () => fail(new Error(`host ${dst.name} took nothing for ${IDLE_MS / 60_000} minutes`)));
      put.on("error", fail);
      put.on("response", (answer) => {
        let text = "";
        answer.on("data", (c: Buffer) => void (text.length < 65536 && (text += c.toString("utf8"))));
        answer.on("end", () => {
          const code = answer.statusCode ?? 0;
          if (code < 200 || code > 299) return fail(agentError(dst.name, code, text));
          let body: unknown = null;
          try {
            body = JSON.parse(text);
          } catch {
            /* checked below */
          }
          const got = receivedSchema.safeParse(body);
          if (!got.success) return fail(new Error(`host ${dst.name} sent an unexpected answer`));
          if (got.data.sha256 !== declared.data.sha256 || got.data.sizeBytes !== declared.data.sizeBytes)
            return fail(new Error(`host ${dst.name} stored a different disk than host ${src.name} sent`));
          settled = true;
          signal?.removeEventListener("abort", onAbort);
          resolve(got.data);
        });
      });
      res.on("error", fail);
      res.pipe(put);
    });
    get.end();
  });
}
