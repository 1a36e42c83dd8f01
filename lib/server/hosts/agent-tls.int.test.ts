// The secured agent channel end to end (docs/decisions/017-agent-tls.md), on SQLite and PostgreSQL:
// a real agent (agent/src/agent.ts, in this process) registers through the real route handlers
// served on 127.0.0.1, gets a certificate from the controller's CA and serves mutual TLS; the
// controller's agent client calls it over real sockets. Refusals are checked on both sides.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { POST as registerRoute } from "../../../app/api/agent/v1/register/route";
import { POST as heartbeatRoute } from "../../../app/api/agent/v1/heartbeat/route";
import { GET as imageFileRoute } from "../../../app/api/agent/v1/images/[id]/[file]/route";
import type { RunningAgent } from "../../../agent/src/agent";
import {
  emptyAgentBackend,
  listenOnLoopback,
  startTestAgent,
  stopServer,
  until,
} from "../../../agent/src/testing/support";
import { loadIdentity } from "../../../agent/src/controller/controller-client";
import { createAgentServer, closeServer, listen, type AgentServer } from "../../../agent/src/api/server";
import { TokenVerifier } from "../../../agent/src/api/auth";
import type { Logger } from "../../../agent/src/util/log";
import type { HostFacts } from "../../schemas/agent-api";
import { db } from "../platform";
import { agentClient, agentRequest, agentTlsOptions } from "./agent-client";
import { createJoinToken, getJoinToken, hostTokenFor } from ".";
import { revokeHost, rotateHostToken } from "./credentials";
import { certFingerprint, ensurePki, issueHostCertificate, resetPkiForTests } from "../platform";
import { resetEnvForTests } from "../platform";
import type { Actor } from "../platform";

/** The real agent-facing route handlers behind a node:http server on loopback. */
class ControllerHttp {
  server!: http.Server;
  url = "";
  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void (async () => {
          const url = new URL(req.url ?? "/", this.url);
          const headers = new Headers();
          for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
          const request = new Request(url, {
            method: req.method,
            headers,
            body: req.method === "GET" ? undefined : Buffer.concat(chunks),
          });
          let response: Response;
          const m = /^\/api\/agent\/v1\/images\/([^/]+)\/([^/]+)$/.exec(url.pathname);
          if (url.pathname === "/api/agent/v1/register") response = await registerRoute(request);
          else if (url.pathname === "/api/agent/v1/heartbeat") response = await heartbeatRoute(request);
          else if (m) response = await imageFileRoute(request, { params: Promise.resolve({ id: m[1]!, file: m[2]! }) });
          else response = new Response("{}", { status: 404 });
          res.writeHead(response.status, Object.fromEntries(response.headers));
          res.end(Buffer.from(await response.arrayBuffer()));
        })().catch((e) => {
          res.writeHead(500).end(String(e));
        });
      });
    });
    this.url = await listenOnLoopback(this.server);
  }
  stop(): Promise<void> {
    return stopServer(this.server);
  }
}

function facts(machineId: string): HostFacts {
  return {
    hostname: "tls-node",
    machineId,
    arch: "x86_64",
    cpuCount: 4,
    cpuModel: "test",
    memoryMb: 4096,
    diskGb: 20,
    kvm: false,
    qemu: { version: null, binaries: {}, firmware: {} },
    ovs: { available: false, version: null, datapath: null },
    nativeArches: [],
    emulatedArches: [],
    maxVcpusNative: null,
    maxVcpusEmulated: null,
    agentVersion: "test",
  };
}

const post = (url: string, body: unknown, token?: string) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
const heartbeat = (ctl: ControllerHttp, token: string) =>
  post(
    `${ctl.url}/api/agent/v1/heartbeat`,
    { usage: { cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }, vms: [] },
    token,
  );

/** A CA (and a host certificate from it) that is not this controller's: another data dir. */
async function foreignPki(ownDataDir: string, agentUrl: string, publicKey: crypto.KeyObject) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "polyarch-foreign-pki-"));
  process.env.POLYARCH_DATA_DIR = dir;
  resetEnvForTests();
  try {
    const pki = await ensurePki();
    const cert = await issueHostCertificate({ hostId: "foreign", publicKey });
    return {
      caPem: pki.caCertPem,
      certPem: cert.certPem,
      controllerCertPem: pki.controllerCertPem,
      controllerKeyPem: pki.controllerKeyPem,
      dir,
    };
  } finally {
    process.env.POLYARCH_DATA_DIR = ownDataDir;
    resetEnvForTests();
  }
}

describe.each(PROVIDERS)("secured agent channel on %s", (provider) => {
  let database: TestDatabase | undefined;
  let ctl: ControllerHttp;
  let root: string;
  const agents: RunningAgent[] = [];
  const servers: AgentServer[] = [];
  const logs: Array<{ level: string; event: string; ctx: Record<string, unknown> }> = [];
  const log: Logger = (level, event, ctx) => logs.push({ level, event, ctx: (ctx ?? {}) as Record<string, unknown> });
  const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };

  async function agent(
    name: string,
    extra: string[] = [],
    joinToken?: string,
    heartbeatMs = 300,
  ): Promise<RunningAgent> {
    const a = await startTestAgent({
      controller: ctl.url,
      stateDir: path.join(root, name),
      machineId: `m-${name}`,
      heartbeatMs,
      args: extra,
      env: { POLYARCH_JOIN_TOKEN: joinToken ?? (await getJoinToken()) },
      log,
    });
    agents.push(a);
    return a;
  }
  /** The agent's host row once the agent installed the certificate the controller recorded. */
  const hostOf = (a: RunningAgent) =>
    until(async () => {
      const h = await db().host.findFirst({ where: { machineId: a.facts.machineId, certFingerprint: { not: null } } });
      const file = path.join(root, a.facts.machineId.slice(2), "tls", "cert.pem");
      return h &&
        fs.existsSync(file) &&
        certFingerprint(fs.readFileSync(file, "utf8")) === h.certFingerprint &&
        a.client?.identity?.hostId === h.id
        ? h
        : null;
    }, "registered host");

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-tls-"));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    resetPkiForTests();
    ctl = new ControllerHttp();
    await ctl.start();
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop().catch(() => {});
    for (const s of servers.splice(0)) await closeServer(s, 100).catch(() => {});
    await ctl.stop();
    await releaseDatabase(database);
  });

  it("registration issues a certificate for the agent's own key; the controller calls it over mutual TLS with the pin", async () => {
    const a = await agent("a1");
    expect(a.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const host = await hostOf(a);
    // The agent's certificate on disk is the one whose fingerprint the controller stored, from our CA.
    const certPem = fs.readFileSync(path.join(root, "a1", "tls", "cert.pem"), "utf8");
    const pki = await ensurePki();
    expect(certFingerprint(certPem)).toBe(host.certFingerprint);
    const x = new crypto.X509Certificate(certPem);
    expect(x.checkIssued(new crypto.X509Certificate(pki.caCertPem))).toBe(true);
    // Its only identity is the host id (ADR 025): no name or address the agent chose.
    expect(x.subjectAltName).toBe(`URI:urn:polyarch:host:${host.id}`);
    expect(x.subject).toContain(`CN=urn:polyarch:host:${host.id}`);
    expect(fs.statSync(path.join(root, "a1", "tls", "key.pem")).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(pki.dir, "ca", "key.pem")).mode & 0o777).toBe(0o600);
    // The private key never left the agent: the controller has no copy of it anywhere.
    const agentKey = fs.readFileSync(path.join(root, "a1", "tls", "key.pem"), "utf8");
    expect(JSON.stringify(await db().host.findMany())).not.toContain(agentKey.split("\n")[1]);

    const info = await agentClient.host(host);
    expect(info.facts.machineId).toBe("m-a1");
    // Plain HTTP to a TLS agent gets nothing; TLS without the controller's client certificate neither.
    await expect(
      fetch(a.url.replace("https:", "http:") + "/v1/health", { signal: AbortSignal.timeout(3000) }),
    ).rejects.toThrow();
    await expect(
      agentRequest(new URL("/v1/health", a.url), {
        method: "GET",
        headers: {},
        timeoutMs: 5000,
        tls: { ca: pki.caCertPem },
      }),
    ).rejects.toThrow();
    // Registration is audited with the certificate's fingerprint.
    const audit = await db().auditEvent.findFirstOrThrow({ where: { action: "host.register", result: "success" } });
    expect(audit.details).toContain(host.certFingerprint!);
  });

  it("the controller refuses an agent certificate of another host, and one not issued by its CA", async () => {
    const a = await agent("b1");
    const b = await agent("b2");
    const ha = await hostOf(a);
    const hb = await hostOf(b);
    // Host A's record points at B's agent: B's certificate chains to our CA but is not A's pin.
    await db().host.update({ where: { id: ha.id }, data: { agentUrl: b.url } });
    await expect(agentClient.host(ha)).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/TLS check.*(not the one issued to|does not name) host/),
    });
    expect((await agentClient.host(hb)).facts.machineId).toBe("m-b2");

    // An HTTPS server with a certificate from another CA, even when its fingerprint is the pin.
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    const foreign = await foreignPki(process.env.POLYARCH_DATA_DIR!, "https://127.0.0.1:1", publicKey);
    const fake = https.createServer(
      { key: privateKey.export({ type: "pkcs8", format: "pem" }), cert: foreign.certPem },
      (_q, r) => r.end('{"facts":{}}'),
    );
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", r));
    try {
      const fakeUrl = `https://127.0.0.1:${(fake.address() as AddressInfo).port}`;
      await db().host.update({
        where: { id: ha.id },
        data: { agentUrl: fakeUrl, certFingerprint: certFingerprint(foreign.certPem) },
      });
      await expect(agentClient.host(ha)).rejects.toMatchObject({
        code: "unavailable",
        message: expect.stringMatching(/failed the TLS check/),
      });
    } finally {
      fake.closeAllConnections();
      await new Promise((r) => fake.close(r));
      fs.rmSync(foreign.dir, { recursive: true, force: true });
    }
  });

  it("an agent that trusts another CA refuses the controller's calls, and will not take its certificate", async () => {
    // Agent side of mutual TLS: a server whose trusted CA is not the controller's.
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    const foreign = await foreignPki(process.env.POLYARCH_DATA_DIR!, "https://127.0.0.1:1", publicKey);
    const issued = await issueHostCertificate({ hostId: "h-x", publicKey });
    const pki = await ensurePki();
    const verifier = new TokenVerifier();
    verifier.set("t".repeat(32));
    const server = createAgentServer({
      facts: () => facts("m-x"),
      ...emptyAgentBackend(),
      auth: verifier,
      log,
      tls: {
        context: { key: privateKey.export({ type: "pkcs8", format: "pem" }), cert: issued.certPem, ca: foreign.caPem },
      },
    });
    servers.push(server);
    const port = (await listen(server, "127.0.0.1", 0)).port;
    const url = new URL("/v1/host", `https://127.0.0.1:${port}`);
    const opts = await agentTlsOptions("h-x", issued.fingerprint, "pinned-elsewhere");
    // Our certificate, our pin: the agent still drops the connection (it does not trust our CA).
    await expect(
      agentRequest(url, {
        method: "GET",
        headers: { authorization: `Bearer ${"t".repeat(32)}` },
        timeoutMs: 5000,
        tls: opts,
      }),
    ).rejects.toThrow();
    // The foreign controller's client certificate is let in (so the refusal above was about trust).
    const ok = await agentRequest(url, {
      method: "GET",
      headers: { authorization: `Bearer ${"t".repeat(32)}` },
      timeoutMs: 5000,
      tls: { ...opts, cert: foreign.controllerCertPem, key: foreign.controllerKeyPem },
    });
    expect(ok.status).toBe(200);
    // An agent pinned to another CA (--controller-ca) refuses our registration answer: no certificate, no host.
    fs.writeFileSync(path.join(root, "foreign-ca.pem"), foreign.caPem);
    await agent("pinned", ["--controller-ca", path.join(root, "foreign-ca.pem")]);
    await until(
      () => logs.find((l) => l.event === "controller.untrusted" && String(l.ctx.error).includes("--controller-ca")),
      "agent refusing the controller's CA",
    );
    expect(fs.existsSync(path.join(root, "pinned", "tls", "cert.pem"))).toBe(false);
    // --controller-fingerprint with the right CA pin joins normally.
    const good = await agent("fp-ok", ["--controller-fingerprint", pki.caFingerprint]);
    expect((await agentClient.host(await hostOf(good))).facts.machineId).toBe("m-fp-ok");
    fs.rmSync(foreign.dir, { recursive: true, force: true });
  });

  it("a wrong or revoked token is refused; a revoked host is not called and comes back only with a new join token", async () => {
    const a = await agent("r1");
    const host = await hostOf(a);
    const token = (await loadIdentity(path.join(root, "r1")))!.hostToken;
    expect((await heartbeat(ctl, token)).status).toBe(200);
    expect((await heartbeat(ctl, "pah_wrong-token-0123456789")).status).toBe(401);

    const revoked = await revokeHost(host.id, { actor: admin, clientIp: "127.0.0.1" });
    expect(revoked.message).toMatch(/revoked/);
    const hb = await heartbeat(ctl, token);
    expect(hb.status).toBe(401);
    expect((await hb.json()).error.message).toMatch(/revoked/i);
    const img = await fetch(`${ctl.url}/api/agent/v1/images/any/disk`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(img.status).toBe(401);
    await expect(agentClient.host(host)).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/revoked; the controller no longer calls/),
    });
    const row = await db().host.findUniqueOrThrow({ where: { id: host.id } });
    expect(row).toMatchObject({ certFingerprint: null, agentTokenHash: null, status: "offline" });
    expect(await db().auditEvent.count({ where: { action: "host.revoke", targetId: host.id } })).toBe(1);

    // The agent tries to re-join with the bootstrap token: refused with a message that says why.
    await until(
      () => logs.find((l) => l.event === "controller.register_failed" && /revoked/.test(String(l.ctx.error))),
      "re-join refused",
    );
    expect((await db().host.findUniqueOrThrow({ where: { id: host.id } })).revokedAt).not.toBeNull();

    // A join token created after the revocation lets the same node back in (same host, new certificate).
    const { token: fresh } = await createJoinToken({}, admin, null);
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    const again = await agent("r1", [], fresh);
    await until(
      async () => (await db().host.findUniqueOrThrow({ where: { id: host.id } })).revokedAt === null,
      "host back after re-join",
    );
    const back = await hostOf(again);
    expect(back.certFingerprint).not.toBe(host.certFingerprint);
    // Back, but waiting for an admin again (ADR 025): a Hosts-page token is never auto-approved.
    expect(back.approval).toBe("pending");
    expect((await agentClient.host(back)).facts.machineId).toBe("m-r1");
    expect(again.url).toMatch(/^https:/);
  });

  it("join tokens expire and are single-use: 401 with a message", async () => {
    const url = `${ctl.url}/api/agent/v1/register`;
    const body = (joinToken: string, m: string) => ({ joinToken, agentUrl: "http://127.0.0.1:7999", facts: facts(m) });
    const once = await createJoinToken({ ttlHours: 1 }, admin, null);
    expect((await post(url, body(once.token, "m-j1"))).status).toBe(200);
    const reused = await post(url, body(once.token, "m-j2"));
    expect(reused.status).toBe(401);
    expect((await reused.json()).error.message).toMatch(/already used.*single-use/);

    const old = await createJoinToken({ ttlHours: 1, singleUse: false }, admin, null);
    await db().joinToken.update({ where: { id: old.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await post(url, body(old.token, "m-j3"));
    expect(expired.status).toBe(401);
    expect((await expired.json()).error.message).toMatch(/expired at .*Create a new one on the Hosts page/);

    const multi = await createJoinToken({ ttlHours: 1, singleUse: false }, admin, null);
    expect((await post(url, body(multi.token, "m-j4"))).status).toBe(200);
    expect((await post(url, body(multi.token, "m-j5"))).status).toBe(200);
    // Only hashes are stored.
    expect(JSON.stringify(await db().joinToken.findMany())).not.toContain(multi.token);
    const wrong = await post(url, body("paj_not-a-token-0123456789", "m-j6"));
    expect(wrong.status).toBe(401);
    // An https agent URL without a key to certify is refused.
    expect((await post(url, { ...body(multi.token, "m-j7"), agentUrl: "https://127.0.0.1:7999" })).status).toBe(400);
  });

  it("token rotation: the agent gets the new token over TLS; the old one is refused on both sides", async () => {
    // No timed heartbeats here: one landing between the controller's switch and the push would be
    // refused and send the agent back to its join token (correct, but not what this test checks).
    const a = await agent("t1", [], undefined, 600_000);
    const host = await hostOf(a);
    // ... and its first heartbeat (sent right after registering) answered, so none is on its way.
    await until(async () => a.client?.lastHeartbeatAt ?? null, "first heartbeat");
    const oldToken = hostTokenFor(host.id, host.tokenGeneration);
    const r = await rotateHostToken(host.id, { actor: admin, clientIp: null });
    expect(r, r.message).toMatchObject({ delivered: true, generation: host.tokenGeneration + 1 });
    const newToken = hostTokenFor(host.id, r.generation);
    expect((await loadIdentity(path.join(root, "t1")))!.hostToken).toBe(newToken);
    // Controller side: heartbeats with the old token are refused, the new one works.
    expect((await heartbeat(ctl, oldToken)).status).toBe(401);
    expect((await heartbeat(ctl, newToken)).status).toBe(200);
    // Agent side: the old token no longer opens its API; the controller's calls (new generation) do.
    const tls = await agentTlsOptions(host.id, host.certFingerprint!, host.name);
    const withOld = await agentRequest(new URL("/v1/vms", a.url), {
      method: "GET",
      headers: { authorization: `Bearer ${oldToken}` },
      timeoutMs: 5000,
      tls,
    });
    expect(withOld.status).toBe(401);
    expect(await agentClient.listVms(host)).toEqual([]);
    // The agent's own heartbeat now goes through with the new token (no re-registration).
    const registrations = logs.filter((l) => l.event === "agent.registered").length;
    await a.client!.heartbeat();
    expect(logs.filter((l) => l.event === "agent.registered").length).toBe(registrations);
    expect((await db().host.findUniqueOrThrow({ where: { id: host.id } })).tokenGeneration).toBe(r.generation);
    expect(await db().auditEvent.count({ where: { action: "host.rotate-token", targetId: host.id } })).toBe(1);
  });
});
