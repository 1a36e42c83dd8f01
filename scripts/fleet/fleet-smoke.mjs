// Smoke test of scripts/fleet/fleet.mjs against a stub controller on 127.0.0.1 (register,
// heartbeat, image download), with the real agent bundle (dist/agent.mjs), real QEMU and
// private userspace OVS instances:
//   1. startFleet({arches: [x86_64, aarch64]}): both agents register; the aarch64 one reports
//      arch aarch64 (arm64 Node under qemu-user); each boots a VM of its own arch from the
//      fixtures (scripts/fixtures/build.sh) with a VLAN-tagged NIC to the marker line.
//   2. fleet.stop(): no agent, QEMU, ovsdb-server, ovs-vswitchd, tap or bridge is left.
//   3. the CLI (node fleet.mjs ...) as a child process, stopped by SIGTERM: same, no leftovers.
// Usage: node scripts/fleet/fleet-smoke.mjs [--arch x86_64,aarch64] [--no-vm] [--no-cli]
// Needs root (taps). Exit 0 = passed. Prints timings.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFleet } from "./fleet.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: { arch: { type: "string" }, "no-vm": { type: "boolean" }, "no-cli": { type: "boolean" } },
});
const ARCHES = (values.arch ?? "x86_64,aarch64").split(",");
const JOIN = "join-token-fleet-smoke-" + crypto.randomBytes(6).toString("hex");
const FIX = process.env.POLYARCH_FIXTURES_DIR ?? path.join(REPO, ".cache/fixtures");
let pass = 0;
let fail = 0;
const ok = (m) => (pass++, console.log(`[fleet-smoke] ok: ${m}`));
const bad = (m) => (fail++, console.log(`[fleet-smoke] FAIL: ${m}`));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t = () => performance.now();
const secs = (t0) => ((performance.now() - t0) / 1000).toFixed(1);

// ---- stub controller ----------------------------------------------------------------------------
const files = new Map();
for (const [arch, id] of [
  ["x86_64", "img-x86"],
  ["aarch64", "img-a64"],
]) {
  for (const [f, name] of [
    ["vmlinuz", "kernel"],
    ["initrd.img", "initrd"],
  ]) {
    const p = path.join(FIX, arch, f);
    if (fs.existsSync(p)) files.set(`${id}/${name}`, fs.readFileSync(p));
  }
}
const registers = [];
const heartbeats = new Map();
const tokens = new Map(); // token -> hostId
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const url = req.url ?? "";
    const json = (code, body) => res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (url === "/api/agent/v1/register" && req.method === "POST") {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      if (body.joinToken !== JOIN) return json(401, { error: { code: "unauthorized", message: "bad join token" } });
      registers.push(body);
      const hostId = `h-${body.facts.machineId}`;
      const token = "tok-" + crypto.randomBytes(12).toString("hex");
      tokens.set(token, hostId);
      return json(200, { hostId, hostToken: token, heartbeatIntervalMs: 1000 });
    }
    const hostId = tokens.get((req.headers.authorization ?? "").replace(/^Bearer /, ""));
    if (!hostId) return json(401, { error: { code: "unauthorized", message: "bad token" } });
    if (url === "/api/agent/v1/heartbeat" && req.method === "POST") {
      heartbeats.set(hostId, (heartbeats.get(hostId) ?? 0) + 1);
      return json(200, { ok: true, heartbeatIntervalMs: 1000 });
    }
    const m = /^\/api\/agent\/v1\/images\/([^/]+)\/([^/]+)$/.exec(url);
    if (m && req.method === "GET") {
      const f = files.get(`${m[1]}/${m[2]}`);
      if (!f) return res.writeHead(404).end();
      return res.writeHead(200, { "content-length": f.length, "content-type": "application/octet-stream" }).end(f);
    }
    res.writeHead(404).end();
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const controllerUrl = `http://127.0.0.1:${server.address().port}`;

// ---- leftovers check ----------------------------------------------------------------------------
function procsMentioning(s) {
  const out = [];
  for (const ent of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(ent) || Number(ent) === process.pid) continue;
    try {
      const argv = fs.readFileSync(`/proc/${ent}/cmdline`, "utf8");
      if (argv.includes(s)) out.push(`${ent}: ${argv.split("\0").join(" ").slice(0, 160)}`);
    } catch {
      /* gone */
    }
  }
  return out;
}
function linksNamed(names) {
  return names.filter((n) => fs.existsSync(`/sys/class/net/${n}`));
}
async function expectClean(root, links, what) {
  let procs = [];
  for (let i = 0; i < 50; i++) {
    procs = procsMentioning(root);
    if (procs.length === 0) break;
    await sleep(100);
  }
  const left = linksNamed(links);
  if (procs.length === 0 && left.length === 0) ok(`${what}: no process, tap or bridge left`);
  else bad(`${what}: left behind: ${[...procs, ...left].join("; ")}`);
}

async function agentApi(agent, method, p, body) {
  const token = [...tokens.entries()].find(([, h]) => h === agent.hostId)?.[0];
  const res = await fetch(`${agent.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
function tapNameOf(vmId, nicId) {
  return "pa" + crypto.createHash("sha256").update(`${vmId}/${nicId}`).digest("hex").slice(0, 12);
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-fleet-"));
const links = [];
let fleet = null;
try {
  // 1. library API
  let t0 = t();
  // --insecure-http: this stub controller issues no certificates (TLS: lib/server/hosts/agent-tls.int.test.ts, e2e)
  fleet = await startFleet({
    controllerUrl,
    joinToken: JOIN,
    dataDir: path.join(root, "lib"),
    arches: ARCHES,
    strict: true,
    heartbeatMs: 1000,
    agentArgs: ["--insecure-http"],
    log: (m) => console.log(`[fleet] ${m}`),
  });
  ok(`startFleet(${ARCHES.join(",")}) in ${secs(t0)} s`);
  links.push(fleet.ovs.uplink);
  for (const a of fleet.agents) {
    links.push(a.bridge);
    const reg = registers.find((r) => r.facts.machineId === a.machineId);
    if (reg?.facts?.arch === a.arch)
      ok(
        `${a.arch} agent registered as ${reg.facts.arch}${a.emulated ? " (arm64 Node under qemu-user)" : ""}, url ${a.url}`,
      );
    else bad(`${a.arch} agent registered with facts.arch=${reg?.facts?.arch}`);
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(a.url)) bad(`${a.arch} agent url ${a.url} is not loopback`);
  }
  const booted = []; // { arch, ip, dir }
  if (!values["no-vm"]) {
    let n = 0;
    for (const a of fleet.agents) {
      const id = a.arch === "x86_64" ? "img-x86" : "img-a64";
      if (!files.has(`${id}/kernel`)) {
        bad(`no ${a.arch} fixture in ${FIX}: run scripts/fixtures/build.sh`);
        continue;
      }
      const vmId = `vm-fleet-${a.arch === "x86_64" ? "x" : "a"}-${crypto.randomBytes(2).toString("hex")}`;
      links.push(tapNameOf(vmId, "nic0"));
      n++;
      const spec = {
        name: `smoke-${a.arch === "x86_64" ? "x86" : "a64"}`,
        arch: a.arch,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        boot: { type: "kernel", imageId: id, cmdline: `quiet polyarch.ip=10.99.0.${10 + n}/24` },
        nics: [{ id: "nic0", mac: `52:54:00:99:01:${String(10 + n).padStart(2, "0")}`, vlan: 10 }],
      };
      t0 = t();
      const r = await agentApi(a, "PUT", `/v1/vms/${vmId}`, spec);
      if (r.status !== 201 && r.status !== 200) {
        bad(`${a.arch} PUT /v1/vms: HTTP ${r.status} ${JSON.stringify(r.body)}`);
        continue;
      }
      const serial = path.join(a.stateDir, "vms", vmId, "serial.log");
      const marker = `POLYARCH-BOOT-OK arch=${a.arch}`;
      let seen = false;
      for (let i = 0; i < 1200 && !seen; i++) {
        seen = fs.existsSync(serial) && fs.readFileSync(serial, "utf8").includes(marker);
        if (!seen) await sleep(100);
      }
      if (seen) {
        ok(`${a.arch} agent booted a ${a.arch} VM with a VLAN 10 NIC: marker ${secs(t0)} s after PUT`);
        booted.push({ arch: a.arch, ip: `10.99.0.${10 + n}`, dir: path.dirname(serial) });
      } else bad(`${a.arch} VM: no marker in ${serial}`);
    }
  }
  // VMs of two hosts on the same VLAN reach each other through the fleet's uplink bridge.
  if (booted.length === 2) {
    const [x, y] = booted;
    const sock = net.createConnection(path.join(x.dir, "serial.sock"));
    await new Promise((r, j) => (sock.once("connect", r), sock.once("error", j)));
    sock.write(`ping -c 3 -w 20 ${y.ip} >/dev/null 2>&1; echo "RESULT-XHOST-rc=$?"\n`);
    let res = null;
    for (let i = 0; i < 400 && !res; i++) {
      res = /RESULT-XHOST-rc=(\d+)/.exec(fs.readFileSync(path.join(x.dir, "serial.log"), "utf8"));
      if (!res) await sleep(100);
    }
    sock.destroy();
    if (res?.[1] === "0") ok(`cross-host ping on VLAN 10: ${x.arch} VM -> ${y.arch} VM through the uplink bridge`);
    else bad(`cross-host ping ${x.arch} -> ${y.arch} failed (${res ? `rc=${res[1]}` : "no result"})`);
  }
  t0 = t();
  await fleet.stop();
  ok(`fleet.stop() in ${secs(t0)} s`);
  await expectClean(path.join(root, "lib"), links, "after stop()");

  // 3. CLI + SIGTERM
  if (!values["no-cli"]) {
    t0 = t();
    const cliDir = path.join(root, "cli");
    const child = spawn(
      process.execPath,
      [
        path.join(REPO, "scripts/fleet/fleet.mjs"),
        "--controller",
        controllerUrl,
        "--data-dir",
        cliDir,
        "--arch",
        ARCHES.join(","),
        "--insecure-http",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, POLYARCH_JOIN_TOKEN: JOIN } },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    for (let i = 0; i < 1800 && !out.includes("running; Ctrl-C") && child.exitCode === null; i++) await sleep(100);
    if (!out.includes("running; Ctrl-C")) bad(`fleet CLI did not come up: ${out.slice(-800)}`);
    else {
      ok(`fleet CLI up in ${secs(t0)} s`);
      const m = out.match(/"(?:bridge|uplink)": "([^"]+)"/g) ?? [];
      for (const b of m) links.push(b.split('"')[3]);
      t0 = t();
      child.kill("SIGTERM");
      const code = await new Promise((r) => child.on("exit", (c, s) => r(c ?? s)));
      ok(`fleet CLI exited (${code}) ${secs(t0)} s after SIGTERM`);
      await expectClean(cliDir, links, "after SIGTERM of the CLI");
    }
    if (child.exitCode === null) child.kill("SIGKILL");
  }
} catch (e) {
  bad(e instanceof Error ? (e.stack ?? e.message) : String(e));
} finally {
  await fleet?.stop().catch(() => {});
  server.closeAllConnections();
  server.close();
  if (fail === 0) fs.rmSync(root, { recursive: true, force: true });
  else console.log(`[fleet-smoke] kept ${root} for inspection (agent.log, ovs logs)`);
}
console.log(`fleet-smoke: ${pass} passed, ${fail} failed`);
process.exit(fail === 0 ? 0 : 1);
