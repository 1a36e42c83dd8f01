// The hostile-agent suite (issue 12, ADR 025), on SQLite and PostgreSQL, on real TLS over loopback:
// the controller's agent TLS listener (server/agent-tls-listener.ts) and a plain "console port" in
// front of the real route handlers, the real PKI, real agent API servers. A join-token holder or a
// thief of a host token tries what an attacker would; every attempt is refused.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { createAgentTlsServer, stripAgentTlsHeaders } from "../../../server/agent-tls-listener";
import { emptyAgentBackend, listenOnLoopback, stopServer } from "../../../agent/src/testing/support";
import { createAgentServer, type AgentServer } from "../../../agent/src/api/server";
import { TokenVerifier } from "../../../agent/src/api/auth";
import { AgentTls, readTrust } from "../../../agent/src/controller/tls";
import { keyProofMessage, type HostFacts } from "../../schemas/agent-api";
import { rawRequest, routeHandler, type Raw } from "../testing/agent-routes";
import { certFingerprint, db, ensurePki, resetEnvForTests, resetPkiForTests, type Actor, type Pki } from "../platform";
import { approveHost, createJoinToken, rejectHost, revokeHost } from ".";
import { claimHost, hostSnapshots } from "../vms/placement";

const BOOTSTRAP = "hostile-bootstrap-token-0123456789";
const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };

function facts(machineId: string, over: Partial<HostFacts> = {}): HostFacts {
  return {
    hostname: "node",
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
    ...over,
  };
}

type Key = { privateKeyPem: string; publicKeyPem: string };
function newKey(): Key {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

describe.each(PROVIDERS)("hostile agents on %s", (provider) => {
  let database: TestDatabase | undefined;
  let tlsServer: https.Server | null = null;
  let plainServer: http.Server | null = null;
  let tlsUrl = "";
  let plainUrl = "";
  let pki: Pki;
  let root: string;
  const servers: AgentServer[] = [];
  const saved = {
    auto: process.env.POLYARCH_AUTO_APPROVE_HOSTS,
    plain: process.env.POLYARCH_AGENT_API_ON_CONSOLE_PORT,
    token: process.env.POLYARCH_JOIN_TOKEN,
    port: process.env.POLYARCH_AGENT_TLS_PORT,
  };
  const restore = (k: keyof NodeJS.ProcessEnv, v: string | undefined) =>
    v === undefined ? delete process.env[k] : (process.env[k] = v);

  /** POST over the TLS port, optionally with a client certificate. */
  const tlsPost = (p: string, body: unknown, o: { token?: string; cert?: string; key?: string } = {}): Promise<Raw> =>
    rawRequest(`${tlsUrl}${p}`, {
      method: "POST",
      body: JSON.stringify(body),
      ca: pki.caCertPem,
      ...(o.cert ? { cert: o.cert, key: o.key } : {}),
      headers: { "content-type": "application/json", ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    });
  const registerBody = (joinToken: string, f: HostFacts, key: Key, agentUrl = "https://127.0.0.1:7101") => ({
    joinToken,
    agentUrl,
    facts: f,
    tls: {
      publicKey: key.publicKeyPem,
      proof: crypto
        .sign("sha256", Buffer.from(keyProofMessage(f.machineId, agentUrl, key.publicKeyPem)), key.privateKeyPem)
        .toString("base64"),
    },
  });
  /** A host registered over TLS: its id, token, certificate and key. */
  async function join(machineId: string, o: { token?: string; f?: Partial<HostFacts>; key?: Key } = {}) {
    const key = o.key ?? newKey();
    const r = await tlsPost("/api/agent/v1/register", registerBody(o.token ?? BOOTSTRAP, facts(machineId, o.f), key));
    expect(r.status, r.body).toBe(200);
    const j = JSON.parse(r.body) as { hostId: string; hostToken: string; tls: { certificate: string } };
    return { id: j.hostId, token: j.hostToken, cert: j.tls.certificate, key: key.privateKeyPem, keys: key };
  }
  const heartbeatBody = { usage: { cpuPct: 0, memoryUsedMb: 0, diskUsedGb: 0, loadAvg: [] }, vms: [] };

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-hostile-"));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  beforeEach(async () => {
    process.env.POLYARCH_AUTO_APPROVE_HOSTS = "false";
    process.env.POLYARCH_AGENT_API_ON_CONSOLE_PORT = "false";
    process.env.POLYARCH_JOIN_TOKEN = BOOTSTRAP;
    database = await useFreshDatabase(provider);
    resetPkiForTests();
    pki = await ensurePki();
    const handle = routeHandler([]);
    tlsServer = createAgentTlsServer(pki, handle);
    tlsUrl = await listenOnLoopback(tlsServer);
    plainServer = http.createServer((req, res) => {
      stripAgentTlsHeaders(req);
      void handle(req, res).catch((e) => res.writeHead(500).end(String(e)));
    });
    plainUrl = await listenOnLoopback(plainServer);
    process.env.POLYARCH_AGENT_TLS_PORT = new URL(tlsUrl).port; // "TLS is on": agent URLs must be https
    resetEnvForTests();
    const { applyConfiguredJoinToken } = await import(".");
    await applyConfiguredJoinToken();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await stopServer(s).catch(() => {});
    if (tlsServer) await stopServer(tlsServer);
    if (plainServer) await stopServer(plainServer);
    tlsServer = plainServer = null;
    await releaseDatabase(database);
    restore("POLYARCH_AUTO_APPROVE_HOSTS", saved.auto);
    restore("POLYARCH_AGENT_API_ON_CONSOLE_PORT", saved.plain);
    restore("POLYARCH_JOIN_TOKEN", saved.token);
    restore("POLYARCH_AGENT_TLS_PORT", saved.port);
    resetEnvForTests();
  });

  it("the bootstrap token is stored hashed, never in clear", async () => {
    const row = await db().setting.findUniqueOrThrow({ where: { key: "cluster.joinToken" } });
    expect(row.value).not.toContain(BOOTSTRAP);
    expect(row.value).toBe("sha256:" + crypto.createHash("sha256").update(BOOTSTRAP).digest("hex"));
    // A clear token stored by an older version still works once, and is hashed in place.
    const legacy = "legacy-clear-token-0123456789";
    await db().setting.update({ where: { key: "cluster.joinToken" }, data: { value: legacy } });
    await join("m-legacy", { token: legacy });
    expect((await db().setting.findUniqueOrThrow({ where: { key: "cluster.joinToken" } })).value).toBe(
      "sha256:" + crypto.createHash("sha256").update(legacy).digest("hex"),
    );
  });

  it("rogue controller names: a host named polyarch-controller gets a host identity only, which no agent accepts as the controller", async () => {
    const rogue = await join("m-rogue", { f: { hostname: "polyarch-controller" } });
    const row = await db().host.findUniqueOrThrow({ where: { id: rogue.id } });
    expect(row.name).toMatch(/^host-[0-9a-f]{6}$/);
    const x = new crypto.X509Certificate(rogue.cert);
    expect(x.subject).toContain(`CN=urn:polyarch:host:${rogue.id}`);
    expect(x.subjectAltName).toBe(`URI:urn:polyarch:host:${rogue.id}`);
    for (const name of ["polyarch-x", "urn:polyarch:controller", "POLYARCH-CONTROLLER"]) {
      const h = await join(`m-${crypto.randomBytes(3).toString("hex")}`, { f: { hostname: name } });
      expect((await db().host.findUniqueOrThrow({ where: { id: h.id } })).name).not.toMatch(/^(polyarch-|urn)/i);
    }
    // A certificate like the ones issued before ADR 025 (CN chosen by the agent), signed by the real CA.
    const legacyKey = path.join(root, "legacy-key.pem");
    fs.writeFileSync(legacyKey, rogue.key);
    const csr = execFileSync("openssl", [
      "req",
      "-new",
      "-key",
      legacyKey,
      "-subj",
      "/CN=polyarch-controller/O=Polyarch",
    ]);
    fs.writeFileSync(path.join(root, "legacy.csr"), csr);
    const ext = path.join(root, "legacy.ext");
    fs.writeFileSync(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n");
    const legacy = execFileSync("openssl", [
      "x509",
      "-req",
      "-in",
      path.join(root, "legacy.csr"),
      "-CA",
      path.join(pki.dir, "ca", "cert.pem"),
      "-CAkey",
      path.join(pki.dir, "ca", "key.pem"),
      "-CAcreateserial",
      "-CAserial",
      path.join(root, "legacy.srl"),
      "-days",
      "30",
      "-extfile",
      ext,
    ]).toString();

    // 1. As a client: a real agent API (TLS, trusting the cluster CA) drops the rogue, also with the legacy cert.
    const good = await join("m-good");
    const verifier = new TokenVerifier();
    verifier.set(good.token);
    const agent = createAgentServer({
      facts: () => facts("m-good"),
      ...emptyAgentBackend(),
      auth: verifier,
      tls: { context: { key: good.key, cert: good.cert, ca: pki.caCertPem } },
    });
    servers.push(agent);
    const agentUrl = await listenOnLoopback(agent);
    // (the agent's certificate names no server: the client side checks the CA only, as the pin is not the point here)
    const callAgent = (cert: string, key: string) =>
      new Promise<number | "dropped">((resolve) => {
        const req = https.request(
          `${agentUrl}/v1/vms`,
          {
            ca: pki.caCertPem,
            cert,
            key,
            agent: false,
            checkServerIdentity: () => undefined,
            headers: { authorization: `Bearer ${good.token}` },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", () => resolve("dropped"));
        req.end();
      });
    expect(await callAgent(rogue.cert, rogue.key)).toBe("dropped");
    expect(await callAgent(legacy, rogue.key)).toBe("dropped");
    expect(await callAgent(pki.controllerCertPem, pki.controllerKeyPem)).toBe(200);

    // 2. As a server: an agent that trusts the cluster CA refuses a "controller" with a host certificate.
    const stateDir = path.join(root, "victim");
    const victim = await AgentTls.open(
      stateDir,
      await readTrust({ controllerCaFile: path.join(pki.dir, "ca", "cert.pem") }),
    );
    for (const [cert, key] of [
      [rogue.cert, rogue.key],
      [legacy, rogue.key],
    ] as const) {
      const fake = https.createServer({ key, cert }, (_q, s) => s.end("{}"));
      const fakeUrl = await listenOnLoopback(fake);
      try {
        await expect(victim.fetch(`${fakeUrl}/api/agent/v1/heartbeat`)).rejects.toThrow();
      } finally {
        await stopServer(fake);
      }
    }
    expect((await victim.fetch(`${tlsUrl}/api/health`)).status).toBe(200);
  });

  it("absurd facts and a plain-http agent URL are refused with a clear message", async () => {
    const key = newKey();
    const cases: Array<[Partial<HostFacts>, RegExp]> = [
      [{ cpuCount: 100000 }, /cpuCount/],
      [{ cpuCount: 0 }, /cpuCount/],
      [{ memoryMb: 2 ** 40 }, /memoryMb/],
      [{ diskGb: -1 }, /diskGb/],
      [{ maxVcpusEmulated: 100000 }, /vCPU limit/],
      [{ hostname: "x".repeat(300) }, /hostname/],
      [{ arch: "sparc" as HostFacts["arch"] }, /arch/],
      [{ nativeArches: ["aarch64"] }, /natively/],
    ];
    for (const [over, msg] of cases) {
      const r = await tlsPost("/api/agent/v1/register", registerBody(BOOTSTRAP, facts("m-absurd", over), key));
      expect(r.status, JSON.stringify(over)).toBe(400);
      expect(r.body).toMatch(msg);
    }
    const plainUrl = await tlsPost(
      "/api/agent/v1/register",
      registerBody(BOOTSTRAP, facts("m-http"), key, "http://127.0.0.1:7101"),
    );
    expect(plainUrl.status).toBe(400);
    expect(plainUrl.body).toMatch(/must be https/);
    expect(await db().host.count()).toBe(0);
    // A heartbeat can never switch the URL to http (or change the host's arch).
    const h = await join("m-hb");
    const hb = (extra: Record<string, unknown>) =>
      tlsPost("/api/agent/v1/heartbeat", { ...heartbeatBody, ...extra }, { token: h.token, cert: h.cert, key: h.key });
    expect((await hb({ agentUrl: "http://127.0.0.1:7101" })).status).toBe(400);
    expect((await hb({ agentUrl: "ftp://127.0.0.1:7101" })).status).toBe(400);
    expect((await hb({ facts: facts("m-hb", { arch: "aarch64" }) })).status).toBe(409);
    expect((await hb({ agentUrl: "https://127.0.0.1:7202" })).status).toBe(200);
    expect((await db().host.findUniqueOrThrow({ where: { id: h.id } })).agentUrl).toBe("https://127.0.0.1:7202");
  });

  it("machine id takeover is refused; the real host (its certificate) re-registers; a known host cannot change arch", async () => {
    const victim = await join("m-victim");
    const other = await join("m-other");
    const attacker = newKey();
    const steal = (o: { cert?: string; key?: string } = {}, f: Partial<HostFacts> = {}) =>
      tlsPost("/api/agent/v1/register", registerBody(BOOTSTRAP, facts("m-victim", f), attacker), o);
    const bare = await steal();
    expect(bare.status).toBe(409);
    expect(bare.body).toMatch(/belongs to host/);
    expect((await steal({ cert: other.cert, key: other.key })).status).toBe(409);
    const row = await db().host.findUniqueOrThrow({ where: { id: victim.id } });
    expect(row.certFingerprint).toBe(certFingerprint(victim.cert));
    // The real host, presenting its certificate, may register again (same key or a new one).
    const again = await tlsPost("/api/agent/v1/register", registerBody(BOOTSTRAP, facts("m-victim"), victim.keys), {
      cert: victim.cert,
      key: victim.key,
    });
    expect(again.status, again.body).toBe(200);
    expect(JSON.parse(again.body).hostId).toBe(victim.id);
    const fresh = JSON.parse(again.body) as { tls: { certificate: string } };
    const arch = await tlsPost(
      "/api/agent/v1/register",
      registerBody(BOOTSTRAP, facts("m-victim", { arch: "aarch64" }), victim.keys),
      { cert: fresh.tls.certificate, key: victim.key },
    );
    expect(arch.status).toBe(409);
    expect(arch.body).toMatch(/joined as x86_64/);
  });

  it("a stolen host token is useless on the console port, and without the host's certificate on the TLS port", async () => {
    const h = await join("m-stolen");
    await approveHost(h.id, { actor: admin, clientIp: null });
    const plain = (p: string, body?: unknown) =>
      rawRequest(`${plainUrl}${p}`, {
        method: body ? "POST" : "GET",
        body: body ? JSON.stringify(body) : undefined,
        headers: { "content-type": "application/json", authorization: `Bearer ${h.token}` },
      });
    for (const r of [
      await plain("/api/agent/v1/heartbeat", heartbeatBody),
      await plain("/api/agent/v1/images/any/disk"),
      await plain("/api/agent/v1/register", registerBody(BOOTSTRAP, facts("m-plain"), newKey())),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body).toMatch(/only on the agent TLS port/);
    }
    expect((await tlsPost("/api/agent/v1/heartbeat", heartbeatBody, { token: h.token })).status).toBe(401);
    expect(
      (await tlsPost("/api/agent/v1/heartbeat", heartbeatBody, { token: h.token, cert: h.cert, key: h.key })).status,
    ).toBe(200);
  });

  it("an arch-bound join token refuses an agent of another arch", async () => {
    const t = await createJoinToken({ arch: "aarch64" }, admin, null);
    const wrong = await tlsPost("/api/agent/v1/register", registerBody(t.token, facts("m-arch"), newKey()));
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatch(/for aarch64 hosts; this agent reports x86_64/);
    // Not spent by the refusal: the right arch still joins with it.
    const ok = await join("m-arch-ok", { token: t.token, f: { arch: "aarch64" } });
    expect((await db().host.findUniqueOrThrow({ where: { id: ok.id } })).arch).toBe("aarch64");
  });

  it("a new host is pending: heart-beats, but takes no VM and downloads no image until an admin approves", async () => {
    const h = await join("m-pending");
    const row = await db().host.findUniqueOrThrow({ where: { id: h.id } });
    expect(row.approval).toBe("pending");
    const creds = { token: h.token, cert: h.cert, key: h.key };
    expect((await tlsPost("/api/agent/v1/heartbeat", heartbeatBody, creds)).status).toBe(200);
    const image = await rawRequest(`${tlsUrl}/api/agent/v1/images/any/disk`, {
      ca: pki.caCertPem,
      cert: h.cert,
      key: h.key,
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(image.status).toBe(403);
    expect(image.body).toMatch(/waiting for an admin's approval/);
    expect((await hostSnapshots()).map((s) => s.id)).not.toContain(h.id);
    const req = { vcpus: 1, memoryMb: 128, diskGb: 1 };
    expect(await db().$transaction((tx) => claimHost(tx, h.id, req))).toBe(false);
    await approveHost(h.id, { actor: admin, clientIp: null });
    expect((await hostSnapshots()).map((s) => s.id)).toContain(h.id);
    expect(await db().$transaction((tx) => claimHost(tx, h.id, req))).toBe(true);
    await expect(rejectHost(h.id, { actor: admin, clientIp: null })).rejects.toMatchObject({ code: "conflict" });
    // Reject deletes a pending host.
    const p = await join("m-reject");
    await rejectHost(p.id, { actor: admin, clientIp: null });
    expect(await db().host.findUnique({ where: { id: p.id } })).toBeNull();
    expect(await db().auditEvent.count({ where: { action: { in: ["host.approve", "host.reject"] } } })).toBe(2);
  });

  it("a revoked host cannot slip back: the bootstrap token is refused, a fresh machine id is a new pending host", async () => {
    const h = await join("m-revoked");
    await approveHost(h.id, { actor: admin, clientIp: null });
    await revokeHost(h.id, { actor: admin, clientIp: null });
    const back = await tlsPost("/api/agent/v1/register", registerBody(BOOTSTRAP, facts("m-revoked"), newKey()));
    expect(back.status).toBe(401);
    const twin = await join("m-revoked-2");
    expect((await db().host.findUniqueOrThrow({ where: { id: twin.id } })).approval).toBe("pending");
    // With a token created after the revocation, it comes back — pending again.
    await new Promise((r) => setTimeout(r, 5)); // a later millisecond than revokedAt
    const t = await createJoinToken({}, admin, null);
    const again = await join("m-revoked", { token: t.token });
    expect(again.id).toBe(h.id);
    expect((await db().host.findUniqueOrThrow({ where: { id: h.id } })).approval).toBe("pending");
  });
});
