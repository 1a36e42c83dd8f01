// An agent stand-in for the controller's snapshot and capture tests: a real HTTPS server on
// loopback with a host certificate from the controller's own CA (so the agent client's chain check
// and pin run for real), answering the snapshot API of lib/schemas/agent-api.ts and streaming a
// real disk file for GET /v1/vms/:id/disk. It checks the host token on every call and records what
// it was asked. Only the agent's side is stood in; the controller code under test is the real one.
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import type { AgentSnapshot } from "../../schemas/agent-api";
import { listenOnLoopback, stopServer } from "../../../agent/src/testing/support";
import { issueHostCertificate } from "../platform";

export type DiskMode = "ok" | "cut" | "no-length";

export interface StubAgent {
  url: string;
  fingerprint: string;
  /** "METHOD /path body" of every authenticated call, in order */
  calls: string[];
  /** the calls other than status reads (GET /v1/vms/:id): what could have changed something */
  actions(): string[];
  /** snapshots per VM id, as the agent holds them */
  snapshots: Map<string, AgentSnapshot[]>;
  /** the next snapshot create/revert/delete answers this error instead */
  failNext: { status: number; message: string } | null;
  /** the file GET /v1/vms/:id/disk streams; "cut" sends half of it and drops the connection */
  disk: { path: string; mode: DiskMode } | null;
  /** power state a revert reports */
  revertPowerState: "running" | "shutoff";
  /** what GET /v1/vms/:id reports (the controller asks before each operation) */
  powerOf: (vmId: string) => "running" | "shutoff" | "starting";
  stop(): Promise<void>;
}

const json = (res: import("node:http").ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

const vmStatus = (id: string, powerState: string) => ({
  id,
  name: "vm",
  arch: "x86_64",
  powerState,
  emulated: false,
  accel: "kvm",
  vcpus: 1,
  memoryMb: 2048,
});

export async function startStubAgent(hostId: string, token: () => string): Promise<StubAgent> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const issued = await issueHostCertificate({ hostId, publicKey });
  const state: Omit<StubAgent, "url" | "fingerprint" | "stop"> = {
    calls: [],
    actions: () => state.calls.filter((c) => !/^GET \/v1\/vms\/[^/?]+$/.test(c)),
    snapshots: new Map(),
    failNext: null,
    disk: null,
    revertPowerState: "running",
    powerOf: () => "running",
  };
  const server = https.createServer(
    { key: privateKey.export({ type: "pkcs8", format: "pem" }), cert: issued.certPem },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.headers.authorization !== `Bearer ${token()}`)
          return json(res, 401, { error: { code: "unauthorized", message: "bad token" } });
        const body = Buffer.concat(chunks).toString("utf8");
        const url = new URL(req.url ?? "/", "https://agent");
        state.calls.push(`${req.method} ${url.pathname}${url.search}${body ? ` ${body}` : ""}`);
        const m = /^\/v1\/vms\/([^/]+)(?:\/(snapshots|disk)(?:\/([^/]+)(\/revert)?)?)?$/.exec(url.pathname);
        if (!m) return json(res, 404, { error: { code: "not_found", message: "no such endpoint" } });
        const [, vmId, what, sid, revert] = m as unknown as [string, string, string?, string?, string?];
        const list = state.snapshots.get(vmId) ?? [];
        state.snapshots.set(vmId, list);
        const fail = state.failNext;
        if (what === "snapshots" && req.method !== "GET" && fail) {
          state.failNext = null;
          return json(res, fail.status, { error: { code: "failed", message: fail.message } });
        }
        if (!what && req.method === "GET") return json(res, 200, vmStatus(vmId, state.powerOf(vmId)));
        if (!what && req.method === "DELETE") {
          state.snapshots.delete(vmId);
          return json(res, 200, { id: vmId, deleted: true });
        }
        if (what === "snapshots" && !sid && req.method === "GET") return json(res, 200, { snapshots: list });
        if (what === "snapshots" && !sid && req.method === "POST") {
          const input = JSON.parse(body) as { id: string; memory: boolean };
          if (list.some((s) => s.id === input.id))
            return json(res, 409, { error: { code: "conflict", message: "exists" } });
          const snap = {
            id: input.id,
            memory: input.memory,
            createdAt: new Date().toISOString(),
            vmStateBytes: input.memory ? 123_456_789 : 0,
          };
          list.push(snap);
          return json(res, 201, snap);
        }
        const known = sid ? list.find((s) => s.id === sid) : undefined;
        if (what === "snapshots" && sid && !known)
          return json(res, 404, { error: { code: "not_found", message: `snapshot ${sid} not found` } });
        if (what === "snapshots" && revert && req.method === "POST")
          return json(res, 200, { status: vmStatus(vmId, state.revertPowerState) });
        if (what === "snapshots" && sid && req.method === "DELETE") {
          state.snapshots.set(
            vmId,
            list.filter((s) => s.id !== sid),
          );
          return json(res, 200, { id: sid, deleted: true });
        }
        if (what === "disk" && req.method === "GET" && state.disk) {
          const { path, mode } = state.disk;
          const size = fs.statSync(path).size;
          res.writeHead(200, {
            "content-type": "application/octet-stream",
            ...(mode === "no-length" ? {} : { "content-length": String(size) }),
          });
          if (mode !== "cut") return void fs.createReadStream(path).pipe(res);
          const half = fs.readFileSync(path).subarray(0, Math.floor(size / 2));
          res.write(half, () => setTimeout(() => res.socket?.destroy(), 50));
          return;
        }
        return json(res, 404, { error: { code: "not_found", message: "not here" } });
      });
    },
  );
  const url = await listenOnLoopback(server);
  return Object.assign(state, { url, fingerprint: issued.fingerprint, stop: () => stopServer(server) });
}
