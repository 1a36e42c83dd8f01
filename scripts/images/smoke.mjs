// Smoke run of the built images, per arch, without an OCI runtime (scripts/images/container.mjs):
//   1. the image root: no test fixtures, secrets, data/ or repository state; controller < 400 MB;
//   2. the controller image starts as its non-root USER on a fresh SQLite database (migrations run by
//      its entrypoint), /api/health answers 200 and the first admin signs in — over 127.0.0.1 only;
//   3. the agent image of the same arch (the arm64 one under qemu-user emulation) joins that
//      controller over its agent TLS port, trusting only the cluster CA, and the host list shows it
//      online with the image's arch (x86_64 / aarch64).
// Every container and process it starts is stopped at the end, also on failure. Prints timings and
// writes them to $CACHE/last-smoke-<arch>.json. Needs root (buildah, ip netns).
//   node scripts/images/smoke.mjs [--arch amd64,arm64] [--prefix localhost/polyarch] [--tag 0.1.0]
import crypto from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Container } from "./container.mjs";
import { auditImageRoot } from "./image-audit.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CACHE = process.env.IMAGES_CACHE ?? path.join(REPO, ".cache/images");
const { values } = parseArgs({
  options: {
    arch: { type: "string", default: "amd64,arm64" },
    "agent-arch": { type: "string" }, // default: the controller's arch (e.g. an arm64 agent joining an amd64 controller)
    prefix: { type: "string", default: process.env.IMAGE_PREFIX ?? "localhost/polyarch" },
    tag: { type: "string", default: JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).version },
    "in-netns": { type: "boolean", default: false },
  },
});
// buildah's default ulimits are refused on this kind of host (scripts/images/lib.sh writes this file).
if (!process.env.CONTAINERS_CONF && fs.existsSync(path.join(CACHE, "containers.conf")))
  process.env.CONTAINERS_CONF = path.join(CACHE, "containers.conf");
const MACHINE = { amd64: "x86_64", arm64: "aarch64" };
const CONTROLLER_MAX_BYTES = 400e6;
let failures = 0;
const ok = (m) => console.log(`[smoke] ok: ${m}`);
const bad = (m) => (failures++, console.log(`[smoke] FAIL: ${m}`));
const check = (cond, m) => (cond ? ok(m) : bad(m));
const secs = (t0) => Number(((performance.now() - t0) / 1000).toFixed(1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what, fn, timeoutMs, proc) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {}
    if (proc && (proc.exitCode !== null || proc.signalCode !== null)) throw new Error(`${what}: the process exited`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

const imageSize = (ref) =>
  Number(execFileSync("podman", ["image", "inspect", "--format", "{{.Size}}", ref], { encoding: "utf8" }).trim());

async function smokeArch(arch, report) {
  const r = (report[arch] = {});
  const ctlRef = `${values.prefix}/controller:${values.tag}-${arch}`;
  const agentArch = values["agent-arch"] ?? arch;
  const agentRef = `${values.prefix}/agent:${values.tag}-${agentArch}`;
  const suffix = `${process.pid}-${arch}`;
  const started = [];
  let log = "";
  try {
    // ---- controller
    let t0 = performance.now();
    const ctl = new Container(ctlRef, `pa-smoke-controller-${suffix}`);
    started.push(ctl);
    r.controllerBytes = imageSize(ctlRef);
    check(ctl.config.arch === arch, `${ctlRef}: image arch ${ctl.config.arch}`);
    check(r.controllerBytes < CONTROLLER_MAX_BYTES, `${ctlRef}: ${(r.controllerBytes / 1e6).toFixed(0)} MB < 400 MB`);
    for (const problem of auditImageRoot(ctl.root, "controller")) bad(`${ctlRef} root: ${problem}`);
    const uid = ctl.exec(["id", "-u"]);
    check(uid !== "0" && /^\d+$/.test(uid), `${ctlRef}: runs as uid ${uid} (USER ${ctl.config.user})`);
    check(ctl.exec(["uname", "-m"]) === MACHINE[arch], `${ctlRef}: uname -m inside is ${MACHINE[arch]}`);

    const [port, tlsPort, agentPort] = [await freePort(), await freePort(), await freePort()];
    const admin = { email: "admin@smoke.test", password: crypto.randomBytes(12).toString("hex") };
    const joinToken = `smoke-join-${crypto.randomBytes(12).toString("hex")}`;
    const base = `http://127.0.0.1:${port}`;
    const ctlProc = ctl.start(["-H", "127.0.0.1", "-p", String(port)], {
      env: {
        BETTER_AUTH_SECRET: crypto.randomBytes(24).toString("hex"),
        POLYARCH_PUBLIC_URL: base,
        POLYARCH_ADMIN_EMAIL: admin.email,
        POLYARCH_ADMIN_PASSWORD: admin.password,
        POLYARCH_JOIN_TOKEN: joinToken,
        POLYARCH_AGENT_TLS_PORT: String(tlsPort),
      },
      onOutput: (s) => (log += s),
    });
    await waitFor(
      "controller /api/health",
      async () => (await fetch(`${base}/api/health`)).status === 200,
      300_000,
      ctlProc,
    );
    r.controllerHealthySeconds = secs(t0);
    ok(`${ctlRef}: /api/health 200 after ${r.controllerHealthySeconds} s (fresh SQLite, migrations by the entrypoint)`);
    const dataDir = path.join(ctl.root, "var/lib/polyarch");
    const caFile = path.join(dataDir, "pki/ca/cert.pem");
    await waitFor(
      "first admin + cluster CA",
      () => /first admin created/.test(log) && fs.existsSync(caFile),
      60_000,
      ctlProc,
    );
    const dbFiles = fs.readdirSync(dataDir).filter((f) => /\.(db|sqlite)$/.test(f));
    check(dbFiles.length > 0, `SQLite database created in /var/lib/polyarch (${dbFiles.join(", ")})`);
    const owner = fs.statSync(path.join(dataDir, dbFiles[0] ?? ".")).uid;
    check(String(owner) === uid, `the database file belongs to uid ${owner}, the service user`);
    const signIn = await fetch(`${base}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: base },
      body: JSON.stringify(admin),
    });
    const cookie = (signIn.headers.getSetCookie?.() ?? []).map((c) => c.split(";")[0]).join("; ");
    check(signIn.status === 200 && /session_token=/.test(cookie), `first admin signs in (HTTP ${signIn.status})`);

    // ---- agent of the same arch, joining over TLS
    t0 = performance.now();
    const agent = new Container(agentRef, `pa-smoke-agent-${suffix}`);
    started.push(agent);
    r.agentBytes = imageSize(agentRef);
    check(agent.config.arch === agentArch, `${agentRef}: image arch ${agent.config.arch}`);
    for (const problem of auditImageRoot(agent.root, "agent")) bad(`${agentRef} root: ${problem}`);
    const caInAgent = path.join(agent.root, "etc/polyarch-controller-ca.pem");
    fs.copyFileSync(caFile, caInAgent);
    let agentLog = "";
    const agentProc = agent.start(
      [
        "--controller",
        `https://127.0.0.1:${tlsPort}`,
        "--controller-ca",
        "/etc/polyarch-controller-ca.pem",
        "--listen",
        `127.0.0.1:${agentPort}`,
        "--kvm",
        "off",
      ],
      { env: { POLYARCH_JOIN_TOKEN: joinToken }, onOutput: (s) => (agentLog += s) },
    );
    const host = await waitFor(
      "agent online in the host list",
      async () => {
        const res = await fetch(`${base}/api/v1/hosts`, { headers: { cookie } });
        const items = (await res.json()).items ?? [];
        return items.find((h) => h.connectivity === "online");
      },
      300_000,
      agentProc,
    ).catch((e) => {
      bad(`${agentRef}: ${e.message}\n--- agent log (tail) ---\n${agentLog.slice(-3000)}`);
      return null;
    });
    if (host) {
      r.agentOnlineSeconds = secs(t0);
      check(
        host.arch === MACHINE[agentArch],
        `${agentRef}: host ${host.name} online after ${r.agentOnlineSeconds} s, arch ${host.arch}`,
      );
      r.host = { name: host.name, arch: host.arch, status: host.status };
    }
  } catch (e) {
    bad(`${arch}: ${e.message}\n--- controller log (tail) ---\n${log.slice(-3000)}`);
  } finally {
    for (const c of started.reverse()) {
      const codes = await c.stop();
      console.log(`[smoke] stopped ${c.image} (exit ${codes.join(", ") || "-"})`);
    }
  }
}

// Everything runs in a network namespace of its own with only a loopback interface: the containers
// share the caller's network (chroot isolation), so nothing they open is reachable from outside it.
if (!values["in-netns"]) {
  const ns = `pa-images-smoke-${process.pid}`;
  execFileSync("ip", ["netns", "add", ns]);
  let code = 1;
  try {
    execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const argv = [process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2), "--in-netns"];
    const r = spawnSync("ip", ["netns", "exec", ns, ...argv], { stdio: "inherit" });
    code = r.status ?? 1;
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
  process.exit(code);
}

const report = { date: new Date().toISOString() };
for (const arch of values.arch.split(",")) await smokeArch(arch, report);
report.failures = failures;
fs.mkdirSync(CACHE, { recursive: true });
fs.writeFileSync(
  path.join(CACHE, `last-smoke-${values.arch.replaceAll(",", "-")}.json`),
  JSON.stringify(report, null, 2) + "\n",
);
console.log(JSON.stringify(report, null, 2));
console.log(failures ? `[smoke] ${failures} check(s) failed` : "[smoke] passed");
process.exit(failures ? 1 : 0);
