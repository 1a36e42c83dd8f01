// The agent's trust in an https controller (docs/decisions/017-agent-tls.md): a real agent
// (startAgent) against a stub controller serving HTTPS on 127.0.0.1 with a certificate from a real
// cluster CA (lib/server/platform/pki.ts issues both it and the agent's certificate). The agent trusts only
// the CA it was pinned to (--controller-fingerprint / --controller-ca), never anything else.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { registerRequestSchema } from "../../schemas/agent-api";
import { ensurePki, issueHostCertificate, resetPkiForTests, type Pki } from "../platform";
import { resetEnvForTests } from "../platform";
import type { RunningAgent } from "../../../agent/src/agent";
import { listenOnLoopback, startTestAgent, stopServer, until } from "../../../agent/src/testing/support";
import type { Logger } from "../../../agent/src/util/log";
import { AgentTls, readTrust } from "../../../agent/src/controller/tls";

const JOIN = "join-token-tls-0123456789";

async function pkiIn(dir: string): Promise<Pki> {
  process.env.POLYARCH_DATA_DIR = dir;
  resetEnvForTests();
  resetPkiForTests();
  return ensurePki();
}

class HttpsController {
  server!: https.Server;
  url = "";
  registers = 0;
  heartbeats = 0;
  token = "host-token-" + crypto.randomBytes(8).toString("hex");
  file = crypto.randomBytes(300_000);
  constructor(private readonly pki: Pki) {}
  async start(): Promise<void> {
    // The chain includes the CA, so an agent holding only its fingerprint can find and check it.
    this.server = https.createServer(
      { key: this.pki.controllerKeyPem, cert: this.pki.controllerCertPem + this.pki.caCertPem },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          void (async () => {
            const json = (code: number, body: unknown) =>
              res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
            if (req.url === "/api/agent/v1/register") {
              const p = registerRequestSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString()));
              if (!p.success || p.data.joinToken !== JOIN || !p.data.tls)
                return json(401, { error: { code: "unauthenticated", message: "no" } });
              this.registers++;
              const cert = await issueHostCertificate({
                hostId: "h-1",
                publicKey: crypto.createPublicKey(p.data.tls.publicKey),
              });
              return json(200, {
                hostId: "h-1",
                hostToken: this.token,
                heartbeatIntervalMs: 200,
                tls: {
                  certificate: cert.certPem,
                  caCertificate: cert.caCertPem,
                  fingerprint: cert.fingerprint,
                  caFingerprint: this.pki.caFingerprint,
                },
              });
            }
            if (req.headers.authorization !== `Bearer ${this.token}`)
              return json(401, { error: { code: "unauthenticated", message: "token" } });
            if (req.url === "/api/agent/v1/heartbeat") {
              this.heartbeats++;
              return json(200, { ok: true, heartbeatIntervalMs: 200 });
            }
            if (req.url === "/api/agent/v1/images/img-1/disk") {
              const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ""));
              const from = m ? Number(m[1]) : 0;
              const body = this.file.subarray(from);
              res.writeHead(m ? 206 : 200, {
                "content-length": String(body.length),
                ...(m ? { "content-range": `bytes ${from}-${this.file.length - 1}/${this.file.length}` } : {}),
              });
              return res.end(body);
            }
            json(404, { error: { code: "not_found", message: "no" } });
          })();
        });
      },
    );
    this.url = await listenOnLoopback(this.server);
  }
  stop(): Promise<void> {
    return stopServer(this.server);
  }
}

describe("agent -> https controller: only the pinned cluster CA is trusted", () => {
  let root: string;
  let pki: Pki;
  let other: Pki;
  let ctl: HttpsController;
  const agents: RunningAgent[] = [];
  const logs: Array<{ event: string; ctx: Record<string, unknown> }> = [];
  const log: Logger = (_level, event, ctx) => logs.push({ event, ctx: (ctx ?? {}) as Record<string, unknown> });
  const savedDataDir = process.env.POLYARCH_DATA_DIR;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-agent-tls-"));
    other = await pkiIn(path.join(root, "other-controller"));
    pki = await pkiIn(path.join(root, "controller"));
    ctl = new HttpsController(pki);
    await ctl.start();
    fs.writeFileSync(path.join(root, "other-ca.pem"), other.caCertPem);
    fs.writeFileSync(path.join(root, "ca.pem"), pki.caCertPem);
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
  });
  afterAll(async () => {
    await ctl?.stop();
    fs.rmSync(root, { recursive: true, force: true });
    if (savedDataDir === undefined) delete process.env.POLYARCH_DATA_DIR;
    else process.env.POLYARCH_DATA_DIR = savedDataDir;
    resetEnvForTests();
    resetPkiForTests();
  });

  async function agent(name: string, extra: string[]): Promise<RunningAgent> {
    const a = await startTestAgent({
      controller: ctl.url,
      stateDir: path.join(root, name),
      machineId: `m-${name}`,
      heartbeatMs: 200,
      args: extra,
      env: { POLYARCH_JOIN_TOKEN: JOIN },
      log,
    });
    agents.push(a);
    return a;
  }

  it("--controller-fingerprint: the CA is taken from the controller's chain, checked, and trusted from then on (also for image downloads)", async () => {
    const before = ctl.heartbeats;
    await agent("fp", ["--controller-fingerprint", pki.caFingerprint.match(/.{2}/g)!.join(":").toUpperCase()]);
    await until(() => ctl.heartbeats >= before + 2, "heartbeats over https");
    expect(fs.readFileSync(path.join(root, "fp", "tls", "ca.pem"), "utf8")).toBe(pki.caCertPem);
    // The fetch the image cache uses: Range over the verified channel.
    const t = await AgentTls.open(path.join(root, "fp"), await readTrust({ controllerFingerprint: pki.caFingerprint }));
    const res = await t.fetch(`${ctl.url}/api/agent/v1/images/img-1/disk`, {
      headers: { authorization: `Bearer ${ctl.token}`, range: "bytes=1000-" },
    });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(ctl.file.subarray(1000))).toBe(true);
  });

  it("--controller-ca: joins a controller whose certificate chains to that CA", async () => {
    const before = ctl.registers;
    await agent("ca", ["--controller-ca", path.join(root, "ca.pem")]);
    await until(() => ctl.registers > before && logs.some((l) => l.event === "agent.registered"), "registered");
  });

  it("an agent pinned to another CA does not send its join token to this controller", async () => {
    const before = ctl.registers;
    await agent("other-ca", ["--controller-ca", path.join(root, "other-ca.pem")]);
    await agent("other-fp", ["--controller-fingerprint", other.caFingerprint]);
    await until(
      () =>
        logs.some(
          (l) =>
            l.event === "controller.register_failed" && /certificate|self.signed|verify/i.test(String(l.ctx.error)),
        ),
      "TLS refusal (--controller-ca)",
    );
    await until(
      () => logs.some((l) => l.event === "controller.untrusted" && /does not present the CA/.test(String(l.ctx.error))),
      "pin refusal (--controller-fingerprint)",
    );
    expect(ctl.registers).toBe(before);
    expect(fs.existsSync(path.join(root, "other-ca", "tls", "cert.pem"))).toBe(false);
  });

  it("a bad --controller-ca file is a configuration error", async () => {
    fs.writeFileSync(path.join(root, "junk.pem"), "not a certificate");
    await expect(agent("junk", ["--controller-ca", path.join(root, "junk.pem")])).rejects.toThrow(
      /not a PEM certificate/,
    );
    await expect(agent("missing", ["--controller-ca", path.join(root, "nope.pem")])).rejects.toThrow(
      /ENOENT|no such file/,
    );
  });
});
