// Smoke test of scripts/fleet/fleet.mjs against a stub controller on 127.0.0.1 (register,
// heartbeat, image download), with the real agent bundle (dist/agent.mjs), real QEMU and
// private userspace OVS instances:
//   1. startFleet({fleet: "x86_64:2,aarch64:1"}): every agent registers, with its own machine id
//      and host id (two of one arch: distinct); the aarch64 one reports arch aarch64 (arm64 Node
//      under qemu-user); the idle agents' CPU use is measured; the first agent of each arch boots a
//      VM of its arch from the fixtures (scripts/fixtures/build.sh) with a VLAN-tagged NIC to the
//      marker line, and the two VMs ping each other through the uplink bridge. Every agent reports an
//      external network in its facts (the fleet's external bridge); a router PUT on the x86_64 agent
//      gives its VM a floating IP that answers from an "outside" namespace on that bridge
//      (scripts/fleet/outside.mjs, 203.0.113.1/24, no default route) and SNAT for the VM's own pings.
//   2. the host-failure helpers: signalAgent SIGSTOP freezes an agent (its heartbeats stop) and
//      SIGCONT thaws it; restartAgent re-attaches the running VM (same QEMU pid); killAgent
//      {withVms} leaves no agent or QEMU, and restartAgent brings the agent back.
//   3. fleet.stop(): no agent, watchdog, QEMU, ovsdb-server, ovs-vswitchd, tap or bridge is left.
//   4. the CLI (node fleet.mjs --fleet x86_64:2 ...) as a child process, stopped by SIGTERM: same.
// Usage: node scripts/fleet/fleet-smoke.mjs [--fleet x86_64:2,aarch64:1] [--agent-bundle FILE] [--no-vm] [--no-cli]
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
import { watchdogPid, watchdogPids } from "./agent-process.mjs";
import { startFleet } from "./fleet.mjs";
import { createOutside } from "./outside.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { values } = parseArgs({
  options: {
    fleet: { type: "string" },
    "agent-bundle": { type: "string" },
    "no-vm": { type: "boolean" },
    "no-cli": { type: "boolean" },
  },
});
const FLEET = values.fleet ?? "x86_64:2,aarch64:1";
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
      // A lease far longer than the smoke: agents that fence start their watchdog, none ever fences here.
      return json(200, { ok: true, heartbeatIntervalMs: 1000, fenceAfterMs: 600_000 });
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
/** CPU time (user + system, in clock ticks of 1/100 s) of a process, from /proc/<pid>/stat. */
function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" "); // after "pid (comm) ": state is field 3
  return Number(rest[11]) + Number(rest[12]);
}
/** The process state letter (R, S, T = stopped, ...), or null when it is gone. */
function procState(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return f.slice(f.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return null;
  }
}
const isAlive = (pid) => procState(pid) !== null && procState(pid) !== "Z";
function tapNameOf(vmId, nicId) {
  return "pa" + crypto.createHash("sha256").update(`${vmId}/${nicId}`).digest("hex").slice(0, 12);
}

/** 2. SIGSTOP/SIGCONT, restart with a running VM (re-attached), SIGKILL with the VMs, restart. */
async function failureHelpers(booted) {
  const heartbeatsOf = (a) => heartbeats.get(a.hostId) ?? 0;
  const a = fleet.agents.find((x) => x.arch === "x86_64" && x.index === 2) ?? fleet.agents[0];
  fleet.signalAgent(a.machineId, "SIGSTOP");
  const frozenAt = heartbeatsOf(a);
  await sleep(4_000);
  const stopped = procState(a.pid) === "T" && heartbeatsOf(a) <= frozenAt + 1;
  fleet.signalAgent(a.machineId, "SIGCONT");
  let resumed = false;
  for (let i = 0; i < 300 && !resumed; i++) {
    resumed = heartbeatsOf(a) > frozenAt + 1; // one heartbeat may have been in flight at SIGSTOP
    if (!resumed) await sleep(100);
  }
  if (stopped && resumed)
    ok(`signalAgent: ${a.machineId} frozen by SIGSTOP (no heartbeat for 4 s), SIGCONT resumed it`);
  else bad(`signalAgent ${a.machineId}: stopped=${stopped} resumed=${resumed} state=${procState(a.pid)}`);

  for (const b of booted) {
    const qemuBefore = fleet.qemuProcesses(b.vmId).map((p) => p.pid);
    const oldPid = b.agent.pid;
    let t0 = t();
    if (b.agent.arch === "x86_64") {
      await fleet.restartAgent(b.agent.machineId);
      const r = await agentApi(b.agent, "GET", `/v1/vms/${b.vmId}`);
      const qemuAfter = fleet.qemuProcesses(b.vmId).map((p) => p.pid);
      if (
        b.agent.pid !== oldPid &&
        !isAlive(oldPid) &&
        r.body?.powerState === "running" &&
        qemuAfter.join() === qemuBefore.join()
      )
        ok(
          `restartAgent ${b.agent.machineId} in ${secs(t0)} s: new pid, VM re-attached running with the same QEMU ${qemuAfter}`,
        );
      else
        bad(
          `restartAgent ${b.agent.machineId}: GET ${r.status} ${JSON.stringify(r.body)}, QEMU ${qemuBefore} -> ${qemuAfter}`,
        );
    } else {
      const killed = await fleet.killAgent(b.agent.machineId, { withVms: true });
      const left = fleet.qemuProcesses(b.vmId);
      const watchdogs = watchdogPids(b.agent.stateDir);
      if (!isAlive(killed.agent) && killed.vms.length === 1 && left.length === 0 && watchdogs.length === 0)
        ok(
          `killAgent ${b.agent.machineId} {withVms}: agent, watchdog ${killed.watchdog}, QEMU ${killed.vms} SIGKILLed`,
        );
      else
        bad(
          `killAgent ${b.agent.machineId}: ${JSON.stringify(killed)}, left ${JSON.stringify(left)}, watchdogs ${watchdogs}`,
        );
      t0 = t();
      await fleet.restartAgent(b.agent.machineId);
      if (b.agent.pid !== oldPid && isAlive(b.agent.pid))
        ok(`restartAgent ${b.agent.machineId} after SIGKILL in ${secs(t0)} s`);
      else bad(`restartAgent ${b.agent.machineId} after SIGKILL: pid ${b.agent.pid}`);
    }
  }
}

/** Runs `cmd` in a booted guest's serial shell; resolves with its exit code, or null after `timeoutMs`. */
async function guestRc(b, cmd, tag, timeoutMs = 40_000) {
  const log = path.join(b.dir, "serial.log");
  const from = fs.statSync(log).size;
  const sock = net.createConnection(path.join(b.dir, "serial.sock"));
  await new Promise((r, j) => (sock.once("connect", r), sock.once("error", j)));
  sock.write(`${cmd} >/dev/null 2>&1; echo "RESULT-${tag}-rc=$?"\n`);
  let res = null;
  for (let i = 0; i < timeoutMs / 100 && !res; i++) {
    const fd = fs.openSync(log, "r");
    const buf = Buffer.alloc(Math.max(0, fs.fstatSync(fd).size - from));
    fs.readSync(fd, buf, 0, buf.length, from);
    fs.closeSync(fd);
    res = new RegExp(`RESULT-${tag}-rc=(\\d+)`).exec(buf.toString());
    if (!res) await sleep(100);
  }
  sock.destroy();
  return res ? Number(res[1]) : null;
}

/**
 * Routers on the fleet's external bridge (ADR 058): the x86_64 agent routes VLAN 10 with SNAT and a
 * floating IP for its VM; an outside namespace (no default route, no route to 10.99.0.0/24) reaches
 * the VM only through the floating IP, and the VM reaches the outside only through SNAT.
 */
async function routerCheck(b, links) {
  const outside = await createOutside(fleet, { address: "203.0.113.1/24", prefix: "pa-smoke-out" });
  links.push(outside.outerLink);
  const t0 = t();
  try {
    const spec = {
      gateway: "10.99.0.1/24",
      external: { address: "203.0.113.10/24" },
      snat: true,
      floatingIps: [{ floating: "203.0.113.20", fixed: b.ip }],
    };
    const put = await agentApi(b.agent, "PUT", "/v1/routers/10", spec);
    if (put.status !== 200) return bad(`PUT /v1/routers/10: HTTP ${put.status} ${JSON.stringify(put.body)}`);
    // The guest has no routes besides its own subnet (polyarch.ip=): only the outside's subnet via the router.
    const route = await guestRc(b, "ip route add 203.0.113.0/24 via 10.99.0.1", "RT");
    if (route !== 0) bad(`route in the ${b.arch} guest: rc=${route}`);
    let fip = { received: 0, out: "" };
    for (let i = 0; i < 10 && fip.received === 0; i++) fip = await outside.ping("203.0.113.20", { count: 1, waitS: 3 });
    if (fip.received > 0) ok(`floating IP 203.0.113.20 -> ${b.ip} answers from the outside namespace (${secs(t0)} s)`);
    else bad(`floating IP: no reply from the outside: ${fip.out.trim()}`);
    const snat = await guestRc(b, "ping -c 2 -W 3 203.0.113.1", "SN");
    if (snat === 0) ok(`the ${b.arch} VM pings the outside 203.0.113.1 through the router's SNAT`);
    else bad(`SNAT: the VM's ping of 203.0.113.1 rc=${snat}`);
    const del = await agentApi(b.agent, "DELETE", "/v1/routers/10");
    if (del.status !== 200) bad(`DELETE /v1/routers/10: HTTP ${del.status} ${JSON.stringify(del.body)}`);
    const gone = await outside.ping("203.0.113.20", { count: 1, waitS: 2 });
    const after = await guestRc(b, "ping -c 1 -W 2 203.0.113.1", "SD");
    if (gone.received === 0 && after !== 0) ok("after DELETE /v1/routers/10 neither direction gets through");
    else bad(`after DELETE: floating replies ${gone.received}, VM ping rc=${after}`);
  } finally {
    await agentApi(b.agent, "DELETE", "/v1/routers/10").catch(() => {});
    await outside.remove().catch((e) => bad(e.message));
  }
  if (!fs.existsSync(`/run/netns/${outside.netns}`)) ok(`outside namespace ${outside.netns} removed`);
  else bad(`outside namespace ${outside.netns} left behind`);
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
    fleet: FLEET,
    agentBundle: values["agent-bundle"],
    strict: true,
    heartbeatMs: 1000,
    agentArgs: ["--insecure-http"],
    log: (m) => console.log(`[fleet] ${m}`),
  });
  ok(`startFleet(${FLEET}) in ${secs(t0)} s: ${fleet.agents.map((a) => a.machineId).join(", ")}`);
  links.push(fleet.ovs.uplink);
  if (fleet.externalBridge) links.push(fleet.externalBridge);
  else bad("the fleet has no external bridge (is nft installed?)");
  const noExternal = registers.filter((r) => r.facts?.network?.externalNetwork !== true);
  if (noExternal.length === 0)
    ok(`every agent reports network.externalNetwork=true in its facts (--external-bridge ${fleet.externalBridge})`);
  else bad(`facts.network of ${noExternal.map((r) => `${r.facts.machineId}=${JSON.stringify(r.facts.network)}`)}`);
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
  const hostIds = new Set(fleet.agents.map((a) => a.hostId));
  const dirs = new Set(fleet.agents.map((a) => a.stateDir));
  const bridges = new Set(fleet.agents.map((a) => a.bridge));
  const n = fleet.agents.length;
  if (registers.length === n && hostIds.size === n && dirs.size === n && bridges.size === n && !hostIds.has(null))
    ok(`${n} agents registered with distinct host ids, state dirs and bridges: ${[...hostIds].join(", ")}`);
  else bad(`agents not distinct: ${JSON.stringify(fleet.agents.map((a) => [a.machineId, a.hostId, a.bridge]))}`);
  for (const a of fleet.agents.filter((x) => x.index > 1)) {
    const want = { dir: `${a.arch}-${a.index}`, machineId: `local-${a.arch}-${a.index}` };
    if (path.basename(path.dirname(a.stateDir)) === want.dir && a.machineId === want.machineId)
      ok(`agent ${a.index} of ${a.arch}: ${want.machineId} in <dataDir>/${want.dir}, bridge ${a.bridge}`);
    else bad(`agent ${a.index} of ${a.arch} named ${a.machineId} in ${a.stateDir}`);
  }
  // Agents that fence (ADR 036) run a watchdog each; stop() must end them too (checked below).
  await sleep(3_000);
  console.log(
    `[fleet-smoke] fence watchdogs: ${fleet.agents.map((a) => `${a.machineId}=${watchdogPid(a.stateDir) ?? "none"}`).join(", ")}`,
  );
  // What an idle agent (and its watchdog) costs — four agents share two cores in e2e: CPU time over 20 s, no VM yet.
  const watched = fleet.agents.flatMap((a) => [
    { name: a.machineId, pid: a.pid, emulated: a.emulated },
    ...(watchdogPid(a.stateDir)
      ? [{ name: `${a.machineId} watchdog`, pid: watchdogPid(a.stateDir), emulated: a.emulated }]
      : []),
  ]);
  const before = watched.map((w) => cpuTicks(w.pid));
  const tIdle = t();
  await sleep(20_000);
  const idleS = (t() - tIdle) / 1000;
  watched.forEach((w, i) => {
    const pct = (cpuTicks(w.pid) - before[i]) / idleS; // ticks are 1/100 s: ticks per s = %
    console.log(`[fleet-smoke] idle CPU ${w.name}${w.emulated ? " (qemu-user)" : ""}: ${pct.toFixed(1)} % of one core`);
  });
  const booted = []; // { arch, ip, dir }
  if (!values["no-vm"]) {
    let n = 0;
    for (const a of fleet.agents.filter((x) => x.index === 1)) {
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
        booted.push({ arch: a.arch, ip: `10.99.0.${10 + n}`, dir: path.dirname(serial), agent: a, vmId });
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
  const x86 = booted.find((b) => b.arch === "x86_64");
  if (x86 && fleet.externalBridge) await routerCheck(x86, links);
  await failureHelpers(booted);
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
        "--fleet",
        "x86_64:2",
        ...(values["agent-bundle"] ? ["--agent-bundle", values["agent-bundle"]] : []),
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
      const m = out.match(/"(?:bridge|uplink|external)": "([^"]+)"/g) ?? [];
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
