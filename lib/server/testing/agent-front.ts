// The controller's agent endpoints for tests that run a real agent without Next: register and
// heartbeat go to the real route handlers; any image's kernel is served from the bytes given, and
// other image files ("<imageId>/<file>", e.g. an ISO's "disk") from `files` when a test passes them.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { POST as registerRoute } from "../../../app/api/agent/v1/register/route";
import { POST as heartbeatRoute } from "../../../app/api/agent/v1/heartbeat/route";
import type { RunningAgent } from "../../../agent/src/agent";
import {
  alive,
  listenOnLoopback,
  serveStubImage,
  startTestAgent,
  stopServer,
  until as waitUntil,
} from "../../../agent/src/testing/support";
import { getJoinToken } from "../hosts";

const KERNEL_PATH = /^\/api\/agent\/v1\/images\/[^/]+\/kernel$/;

export type AgentFront = { url: string; heartbeats: number[]; stop(): Promise<void> };

export async function startAgentFront(kernel: Buffer, files?: Map<string, Buffer>): Promise<AgentFront> {
  const heartbeats: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const url = req.url ?? "";
        if (req.method === "GET" && KERNEL_PATH.test(url))
          return void res.writeHead(200, { "content-length": kernel.length }).end(kernel);
        if (files && serveStubImage(req, res, url, files, [])) return;
        const handler =
          req.method === "POST" && url === "/api/agent/v1/register"
            ? registerRoute
            : req.method === "POST" && url === "/api/agent/v1/heartbeat"
              ? heartbeatRoute
              : null;
        if (!handler) return void res.writeHead(404).end();
        const headers = new Headers();
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
        const r = await handler(
          new Request(`http://127.0.0.1${url}`, { method: "POST", headers, body: Buffer.concat(chunks) }),
        );
        if (handler === heartbeatRoute) heartbeats.push(r.status);
        res.writeHead(r.status, Object.fromEntries(r.headers)).end(Buffer.from(await r.arrayBuffer()));
      })().catch((e: unknown) => res.writeHead(500).end(String(e)));
    });
  });
  return { url: await listenOnLoopback(server), heartbeats, stop: () => stopServer(server) };
}

/**
 * A real agent (in-process, --insecure-http on loopback, real QEMU) registered through a fresh
 * front — what the provision, volume and snapshot integration tests stand on. Call after the test
 * database is up (the join token comes from it). `stop()` stops the agent, kills by pid every guest
 * the test added to `pids` (QEMU outlives its agent by design), the front and the temp dir.
 */
export interface FrontedAgent {
  front: AgentFront;
  agent: RunningAgent;
  root: string;
  pids: Set<number>;
  /** waits for a truthy value; a timeout names `what` and the agent's last warnings */
  until<T>(fn: () => T | Promise<T>, what: string, ms?: number): Promise<NonNullable<T>>;
  /** GET on the agent's API with its host token */
  agentGet(p: string): Promise<{ status: number; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export async function startFrontedAgent(
  name: string,
  kernel: Buffer,
  files?: Map<string, Buffer>,
  defaultMs = 120_000,
): Promise<FrontedAgent> {
  const problems: string[] = [];
  const until = <T>(fn: () => T | Promise<T>, what: string, ms = defaultMs) =>
    waitUntil(fn, () => `${what}; agent warnings: ${problems.slice(-5).join(" | ") || "none"}`, ms, 100);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `pa-${name}-`));
  const front = await startAgentFront(kernel, files);
  const pids = new Set<number>();
  let agent: RunningAgent | null = null;
  const stop = async () => {
    await agent?.stop().catch(() => {});
    for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
    await front.stop();
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    agent = await startTestAgent({
      controller: front.url,
      stateDir: path.join(root, "state"),
      machineId: `${name}-${crypto.randomBytes(3).toString("hex")}`,
      heartbeatMs: 300,
      args: ["--insecure-http"],
      env: { POLYARCH_JOIN_TOKEN: await getJoinToken() },
      log: (level, event, ctx) => {
        if (level !== "info") problems.push(`${level} ${event} ${JSON.stringify(ctx)}`.slice(0, 400));
      },
    });
    const running = agent;
    await until(() => running.client?.identity?.hostId, "registration");
    const agentGet = async (p: string) => {
      const res = await fetch(`${running.url}${p}`, { headers: { authorization: `Bearer ${running.client!.token}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    return { front, agent: running, root, pids, until, agentGet, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
