// The controller serving the agent API over TLS (docs/decisions/017-agent-tls.md), on SQLite and
// PostgreSQL: the request wrapper the custom server uses (server/agent-tls-listener.ts) in a
// node:https server on 127.0.0.1 with the controller's certificate from the real PKI, in front of
// the real route handlers. A real agent (agent/src/agent.ts, in this process) registers and
// heart-beats through it, verifying the controller against the cluster CA only; a host token on
// that port is worth nothing without the host's own client certificate.
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
import { POST as heartbeatRoute } from "../../../app/api/agent/v1/heartbeat/route";
import { rawRequest, routeHandler } from "../testing/agent-routes";
import { createAgentTlsServer, stripAgentTlsHeaders } from "../../../server/agent-tls-listener";
import { CHANNEL_HEADER, CLIENT_CERT_HEADER } from "../../agent-tls";
import { serverHooks } from "../../server-hooks";
import type { RunningAgent } from "../../../agent/src/agent";
import { listenOnLoopback, startTestAgent, stopServer, until } from "../../../agent/src/testing/support";
import type { Logger } from "../../../agent/src/util/log";
import { AgentTls, readTrust } from "../../../agent/src/controller/tls";
import { db } from "../platform";
import { getJoinToken } from "./join-tokens";
import {
  agentFacingUrl,
  certFingerprint,
  controllerSans,
  ensurePki,
  issueHostCertificate,
  resetPkiForTests,
  type Pki,
} from "../platform";
import { resetEnvForTests } from "../platform";

const HEARTBEAT_BODY = JSON.stringify({ usage: { cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }, vms: [] });

describe.each(PROVIDERS)("controller agent TLS port on %s", (provider) => {
  let database: TestDatabase | undefined;
  let root: string;
  let tlsServer: https.Server | null = null;
  let plainServer: http.Server | null = null;
  let tlsUrl = "";
  let plainUrl = "";
  let pki: Pki;
  const seen: Array<{ path: string; status: number }> = [];
  const agents: RunningAgent[] = [];
  const logs: Array<{ level: string; event: string; ctx: Record<string, unknown> }> = [];
  const log: Logger = (level, event, ctx) => logs.push({ level, event, ctx: (ctx ?? {}) as Record<string, unknown> });

  async function agent(name: string): Promise<RunningAgent> {
    const a = await startTestAgent({
      controller: tlsUrl,
      stateDir: path.join(root, name),
      machineId: `m-${name}`,
      heartbeatMs: 200,
      args: ["--controller-ca", path.join(pki.dir, "ca", "cert.pem")],
      env: { POLYARCH_JOIN_TOKEN: await getJoinToken() },
      log,
    });
    agents.push(a);
    return a;
  }
  /** The agent's host row once the certificate the controller pinned is the one the agent holds. */
  const hostOf = (a: RunningAgent, name: string) =>
    until(async () => {
      const h = await db().host.findFirst({ where: { machineId: a.facts.machineId, certFingerprint: { not: null } } });
      const file = path.join(root, name, "tls", "cert.pem");
      return h &&
        fs.existsSync(file) &&
        certFingerprint(fs.readFileSync(file, "utf8")) === h.certFingerprint &&
        a.client?.identity?.hostId === h.id
        ? h
        : null;
    }, `registered host ${name}`);
  const credsOf = (name: string) => ({
    cert: fs.readFileSync(path.join(root, name, "tls", "cert.pem"), "utf8"),
    key: fs.readFileSync(path.join(root, name, "tls", "key.pem"), "utf8"),
  });
  const heartbeatOver = (base: string, token: string, extra: Parameters<typeof rawRequest>[1] = {}) =>
    rawRequest(`${base}/api/agent/v1/heartbeat`, {
      method: "POST",
      body: HEARTBEAT_BODY,
      ...extra,
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...extra.headers },
    });

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-ctl-tls-"));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    resetPkiForTests();
    pki = await ensurePki();
    seen.length = 0;
    const handle = routeHandler(seen);
    // Exactly what server/main.ts does: the TLS listener from agent-tls-listener.ts, and the
    // plain port stripping the trusted headers before the app sees a request.
    tlsServer = createAgentTlsServer(pki, handle, log);
    tlsUrl = await listenOnLoopback(tlsServer);
    plainServer = http.createServer((req, res) => {
      stripAgentTlsHeaders(req);
      void handle(req, res).catch((e) => res.writeHead(500).end(String(e)));
    });
    plainUrl = await listenOnLoopback(plainServer);
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop().catch(() => {});
    if (tlsServer) await stopServer(tlsServer);
    if (plainServer) await stopServer(plainServer);
    tlsServer = plainServer = null;
    await releaseDatabase(database);
  });

  it("a real agent registers and heart-beats over the TLS port, verifying the controller against the cluster CA", async () => {
    expect(tlsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const a = await agent("t1");
    const host = await hostOf(a, "t1");
    const before = seen.filter((s) => s.path === "/api/agent/v1/heartbeat" && s.status === 200).length;
    await until(
      () => seen.filter((s) => s.path === "/api/agent/v1/heartbeat" && s.status === 200).length >= before + 2,
      "two heartbeats accepted over TLS",
    );
    expect(seen.some((s) => s.path === "/api/agent/v1/register" && s.status === 200)).toBe(true);
    expect(seen.every((s) => s.status < 400)).toBe(true); // no 401 on the way: the agent presents its certificate
    const row = await db().host.findUniqueOrThrow({ where: { id: host.id } });
    expect(row.status).toBe("online");
    expect(row.lastHeartbeatAt!.getTime()).toBeGreaterThan(Date.now() - 10_000);

    // The health probe is served; anything else of the app is not (also not by way of dot segments).
    expect((await rawRequest(`${tlsUrl}/api/health`, { ca: pki.caCertPem })).status).toBe(200);
    for (const p of [
      "/api/v1/hosts",
      "/",
      "/login",
      "/api/agent/v1/../../v1/hosts",
      "/api/agent/v1/%2e%2e/%2e%2e/v1/hosts",
      "/api/agent/v2/x",
      "/api/healthz",
    ]) {
      const r = await rawRequest(`${tlsUrl}${p}`, { ca: pki.caCertPem });
      expect(r.status, p).toBe(404);
      expect(r.body).toContain("only the agent API");
    }
    expect(seen.some((s) => !s.path.startsWith("/api/agent/v1/") && s.path !== "/api/health")).toBe(false);

    // Hostname verification: the same server on another loopback address its certificate does not name is refused.
    const other = createAgentTlsServer(pki, routeHandler([]), log);
    await new Promise<void>((r) => other.listen(0, "127.0.0.2", r));
    try {
      const t = await AgentTls.open(
        path.join(root, "t1"),
        await readTrust({ controllerCaFile: path.join(pki.dir, "ca", "cert.pem") }),
      );
      const bad = `https://127.0.0.2:${(other.address() as AddressInfo).port}/api/health`;
      await expect(t.fetch(bad)).rejects.toMatchObject({ cause: { code: "ERR_TLS_CERT_ALTNAME_INVALID" } });
      expect((await t.fetch(`${tlsUrl}/api/health`)).status).toBe(200);
    } finally {
      await stopServer(other);
    }
  });

  it("over the TLS port a host token needs the host's own client certificate; the plain port ignores forged certificate headers", async () => {
    const a = await agent("c1");
    const b = await agent("c2");
    const ha = await hostOf(a, "c1");
    await hostOf(b, "c2");
    // Stop the agents (identity kept on disk): the requests below are ours alone.
    for (const x of agents.splice(0)) await x.stop();
    const token = JSON.parse(fs.readFileSync(path.join(root, "c1", "identity.json"), "utf8")).hostToken as string;
    const own = credsOf("c1");
    const other = credsOf("c2");

    // Matching certificate: accepted.
    expect((await heartbeatOver(tlsUrl, token, { ca: pki.caCertPem, ...own })).status).toBe(200);
    // No certificate (the stolen-token case), even claiming the right fingerprint in the header: 401.
    const none = await heartbeatOver(tlsUrl, token, {
      ca: pki.caCertPem,
      headers: { [CLIENT_CERT_HEADER]: ha.certFingerprint!, [CHANNEL_HEADER]: "guess" },
    });
    expect(none.status).toBe(401);
    expect(none.body).toMatch(/must present its client certificate/);
    // Another host's valid certificate from the same CA: 401.
    const wrong = await heartbeatOver(tlsUrl, token, { ca: pki.caCertPem, ...other });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatch(/not the one issued to this host/);
    // A certificate for the same key from another CA does not verify: treated as none.
    const foreignDir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-ctl-tls-foreign-"));
    const ownData = process.env.POLYARCH_DATA_DIR!;
    try {
      process.env.POLYARCH_DATA_DIR = foreignDir;
      resetEnvForTests();
      resetPkiForTests();
      const foreignCert = await issueHostCertificate({ hostId: ha.id, publicKey: crypto.createPublicKey(own.key) });
      process.env.POLYARCH_DATA_DIR = ownData;
      resetEnvForTests();
      resetPkiForTests();
      expect(
        (await heartbeatOver(tlsUrl, token, { ca: pki.caCertPem, cert: foreignCert.certPem, key: own.key })).status,
      ).toBe(401);
    } finally {
      process.env.POLYARCH_DATA_DIR = ownData;
      resetEnvForTests();
      resetPkiForTests();
      fs.rmSync(foreignDir, { recursive: true, force: true });
    }
    // Image downloads are held to the same rule.
    expect(
      (
        await rawRequest(`${tlsUrl}/api/agent/v1/images/nope/disk`, {
          ca: pki.caCertPem,
          headers: { authorization: `Bearer ${token}` },
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await rawRequest(`${tlsUrl}/api/agent/v1/images/nope/disk`, {
          ca: pki.caCertPem,
          ...own,
          headers: { authorization: `Bearer ${token}` },
        })
      ).status,
    ).toBe(404);

    // The plain port (tests, old agents) keeps token-only authentication, and forged headers change nothing.
    expect((await heartbeatOver(plainUrl, token)).status).toBe(200);
    expect(
      (
        await heartbeatOver(plainUrl, token, {
          headers: { [CLIENT_CERT_HEADER]: "0".repeat(64), [CHANNEL_HEADER]: "forged" },
        })
      ).status,
    ).toBe(200);
    expect((await heartbeatOver(plainUrl, "pah_wrong")).status).toBe(401);

    // The route handlers trust the headers only with this process's channel value, which a client cannot know.
    const direct = (headers: Record<string, string>) =>
      heartbeatRoute(
        new Request("http://x/api/agent/v1/heartbeat", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
          body: HEARTBEAT_BODY,
        }),
      );
    expect(
      (await direct({ [CHANNEL_HEADER]: "forged-value-of-the-same-length-00", [CLIENT_CERT_HEADER]: "0".repeat(64) }))
        .status,
    ).toBe(200);
    const secret = serverHooks().agentTlsChannel!;
    expect(secret).toBeTruthy();
    expect((await direct({ [CHANNEL_HEADER]: secret, [CLIENT_CERT_HEADER]: "0".repeat(64) })).status).toBe(401);
    expect((await direct({ [CHANNEL_HEADER]: secret, [CLIENT_CERT_HEADER]: ha.certFingerprint! })).status).toBe(200);
  });

  it("an agent with only --controller-fingerprint finds the CA in the chain the listener presents", async () => {
    const a = await startTestAgent({
      controller: tlsUrl,
      stateDir: path.join(root, "fp1"),
      machineId: "m-fp1",
      heartbeatMs: 200,
      args: ["--controller-fingerprint", pki.caFingerprint],
      env: { POLYARCH_JOIN_TOKEN: await getJoinToken() },
      log,
    });
    agents.push(a);
    await hostOf(a, "fp1");
    expect(fs.readFileSync(path.join(root, "fp1", "tls", "ca.pem"), "utf8")).toBe(pki.caCertPem);
  });

  it("an agent whose certificate the controller no longer pins cannot register its machine id again (ADR 025)", async () => {
    const a = await agent("r1");
    const h = await hostOf(a, "r1");
    // The pin moves (as after a registration elsewhere): the agent's next heartbeat gets 401; re-registering
    // the same machine id needs the pinned certificate, which this agent does not hold, so it is refused.
    await db().host.update({ where: { id: h.id }, data: { certFingerprint: "f".repeat(64) } });
    await until(
      () =>
        logs.some((l) => l.event === "controller.register_failed" && String(l.ctx.error).includes("belongs to host")),
      "the refused re-registration",
    );
    expect(logs.some((l) => l.event === "agent.token_rejected")).toBe(true);
    expect((await db().host.findUniqueOrThrow({ where: { id: h.id } })).certFingerprint).toBe("f".repeat(64));
    expect(await db().host.count({ where: { machineId: "m-r1" } })).toBe(1);
  });
});

describe("controller certificate names (POLYARCH_AGENT_TLS_NAMES)", () => {
  const saved = { dir: process.env.POLYARCH_DATA_DIR, names: process.env.POLYARCH_AGENT_TLS_NAMES };
  let dir: string;
  const restore = (
    k: "POLYARCH_DATA_DIR" | "POLYARCH_AGENT_TLS_NAMES" | "POLYARCH_AGENT_TLS_PORT" | "POLYARCH_PUBLIC_URL",
    v: string | undefined,
  ) => (v === undefined ? delete process.env[k] : (process.env[k] = v));
  async function pkiWith(names: string | undefined): Promise<{ pki: Pki; cert: crypto.X509Certificate }> {
    process.env.POLYARCH_DATA_DIR = dir;
    restore("POLYARCH_AGENT_TLS_NAMES", names);
    resetEnvForTests();
    resetPkiForTests();
    const pki = await ensurePki();
    return { pki, cert: new crypto.X509Certificate(pki.controllerCertPem) };
  }
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-ctl-names-"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    restore("POLYARCH_DATA_DIR", saved.dir);
    restore("POLYARCH_AGENT_TLS_NAMES", saved.names);
    resetEnvForTests();
    resetPkiForTests();
  });

  it("defaults to loopback and this machine's hostname", async () => {
    const { cert } = await pkiWith(undefined);
    expect(cert.checkHost("localhost", { subject: "never" })).toBe("localhost");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkIP("::1")).toBeDefined();
    if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(os.hostname()))
      expect(cert.checkHost(os.hostname(), { subject: "never" })).toBeDefined();
    expect(cert.checkHost("ctl.example.test", { subject: "never" })).toBeUndefined();
  });

  it("carries the configured names, and is reissued by the same CA when a name is added", async () => {
    const one = await pkiWith("ctl.example.test, 10.9.8.7");
    expect(one.cert.checkHost("ctl.example.test", { subject: "never" })).toBe("ctl.example.test");
    expect(one.cert.checkIP("10.9.8.7")).toBe("10.9.8.7");
    expect(one.cert.checkIP("127.0.0.1")).toBe("127.0.0.1"); // loopback always (the local fleet)
    expect(one.cert.checkIssued(new crypto.X509Certificate(one.pki.caCertPem))).toBe(true);

    // Same names: the stored certificate stays.
    const same = await pkiWith("10.9.8.7,ctl.example.test");
    expect(certFingerprint(same.pki.controllerCertPem)).toBe(certFingerprint(one.pki.controllerCertPem));

    // A name added: a new certificate (and key) from the same CA, with the old and the new names.
    const more = await pkiWith("ctl.example.test,10.9.8.7,agents.example.test,fd00::7");
    expect(certFingerprint(more.pki.controllerCertPem)).not.toBe(certFingerprint(one.pki.controllerCertPem));
    expect(more.pki.controllerKeyPem).not.toBe(one.pki.controllerKeyPem);
    expect(more.pki.caFingerprint).toBe(one.pki.caFingerprint);
    expect(more.cert.verify(new crypto.X509Certificate(more.pki.caCertPem).publicKey)).toBe(true);
    for (const n of ["ctl.example.test", "agents.example.test"])
      expect(more.cert.checkHost(n, { subject: "never" })).toBe(n);
    expect(more.cert.checkIP("fd00::7")).toBeDefined();
    expect(fs.readFileSync(path.join(more.pki.dir, "controller", "cert.pem"), "utf8")).toBe(more.pki.controllerCertPem);
  });

  it("the join command points agents at the TLS port under the first configured name", () => {
    const saved = { port: process.env.POLYARCH_AGENT_TLS_PORT, url: process.env.POLYARCH_PUBLIC_URL };
    try {
      process.env.POLYARCH_PUBLIC_URL = "https://console.example.test";
      delete process.env.POLYARCH_AGENT_TLS_PORT;
      delete process.env.POLYARCH_AGENT_TLS_NAMES;
      resetEnvForTests();
      expect(agentFacingUrl()).toBe("https://console.example.test");
      process.env.POLYARCH_AGENT_TLS_PORT = "3443";
      resetEnvForTests();
      expect(agentFacingUrl()).toBe("https://console.example.test:3443");
      process.env.POLYARCH_AGENT_TLS_NAMES = "ctl.svc.example.test,10.0.0.1";
      resetEnvForTests();
      expect(agentFacingUrl()).toBe("https://ctl.svc.example.test:3443");
      process.env.POLYARCH_AGENT_TLS_NAMES = "fd00::1";
      resetEnvForTests();
      expect(agentFacingUrl()).toBe("https://[fd00::1]:3443");
    } finally {
      restore("POLYARCH_AGENT_TLS_PORT", saved.port);
      restore("POLYARCH_PUBLIC_URL", saved.url);
    }
  });

  it("refuses a name that is neither a DNS name nor an IP address", async () => {
    process.env.POLYARCH_DATA_DIR = dir;
    process.env.POLYARCH_AGENT_TLS_NAMES = "ok.example.test,not a name";
    resetEnvForTests();
    expect(() => controllerSans()).toThrow(/"not a name" is neither a DNS name nor an IP address/);
  });
});
