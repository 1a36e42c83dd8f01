// Test support shared by the agent's own tests and the controller tests that run a real agent in
// this process (lib/server/agent-tls, agent-trust, metrics-agent): polling waits, pid checks, stub
// servers on loopback, and an in-process agent with neither KVM nor OVS.
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { startAgent, type RunningAgent } from "../agent";
import { parseConfig } from "../config";
import type { Logger } from "../util";

/**
 * Calls `fn` every `pollMs` until it returns something truthy and returns that; after `ms` throws
 * "timed out waiting for <what>" (`what` may be a function, called then, to add late context).
 */
export async function until<T>(
  fn: () => T | Promise<T>,
  what: string | (() => string),
  ms = 30_000,
  pollMs = 50,
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end)
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === "function" ? what() : what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The process exists (signal 0 reaches it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Listens on an ephemeral port of 127.0.0.1; returns the base URL (https for an https.Server). */
export async function listenOnLoopback(server: http.Server | https.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `${server instanceof https.Server ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Drops every connection and closes the server. */
export async function stopServer(server: http.Server | https.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/**
 * A real agent in this process for tests: listens on 127.0.0.1 (ephemeral port), no KVM, and an
 * OVS database socket nobody serves (no OVS); `args` adds or overrides flags, `env` is the
 * environment parseConfig sees (e.g. POLYARCH_JOIN_TOKEN).
 */
export async function startTestAgent(o: {
  controller: string;
  stateDir: string;
  machineId: string;
  heartbeatMs: number;
  args?: string[];
  env?: Record<string, string | undefined>;
  log: Logger;
}): Promise<RunningAgent> {
  const cfg = parseConfig(
    [
      "--controller",
      o.controller,
      "--listen",
      "127.0.0.1:0",
      "--state-dir",
      o.stateDir,
      "--kvm",
      "off",
      "--machine-id",
      o.machineId,
      "--heartbeat-ms",
      String(o.heartbeatMs),
      "--ovs-db",
      `unix:${path.join(path.dirname(o.stateDir), "no-ovs.sock")}`,
      ...(o.args ?? []),
    ],
    o.env ?? {},
  );
  if (cfg === "help") throw new Error("unexpected --help");
  return startAgent(cfg, o.log);
}

/**
 * A stub controller's image download route (GET /api/agent/v1/images/<id>/<file>): serves `files`
 * keyed "<id>/<file>", records each request in `requests`. Returns false for any other request.
 */
export function serveStubImage(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: string,
  files: Map<string, Buffer>,
  requests: string[],
): boolean {
  const m = /^\/api\/agent\/v1\/images\/([^/]+)\/([^/]+)$/.exec(url);
  if (!m || req.method !== "GET") return false;
  requests.push(`${m[1]}/${m[2]}`);
  const f = files.get(`${m[1]}/${m[2]}`);
  if (!f) res.writeHead(404).end();
  else res.writeHead(200, { "content-length": f.length }).end(f);
  return true;
}

/**
 * The usage and VM backend of an agent API server that hosts nothing: lists are empty, every read of
 * one VM and every change fails. For tests about the API's transport (TLS, auth), not its VMs.
 */
export function emptyAgentBackend() {
  const no = async (): Promise<never> => {
    throw new Error("no");
  };
  return {
    usage: async () => ({ cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] as number[] }),
    vms: { list: async () => [], get: no, apply: no, action: no, delete: async () => undefined },
  };
}
