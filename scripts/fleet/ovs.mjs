// The fleet's private userspace Open vSwitch (docs/decisions/009-local-fleet-one-ovs.md):
// ovsdb-server + ovs-vswitchd with their own run/db/log dir (datapath_type=netdev), and tearing
// it down again — its bridges, their ports (VM taps) and the daemons.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { isComm, killPid, killPidSync, procArgv, procComm, readPid, run, sbin } from "./processes.mjs";

const OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema";
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export function ovsEnv(dir) {
  return {
    ...process.env,
    OVS_RUNDIR: dir,
    OVS_DBDIR: dir,
    OVS_LOGDIR: dir,
    OVS_SYSCONFDIR: dir,
    OVS_PKGDATADIR: "/usr/share/openvswitch",
  };
}

/**
 * Starts ovsdb-server + ovs-vswitchd in `dir` (keeps an existing conf.db, so bridge ports survive a restart);
 * with `netns`, inside that network namespace (the taps of agents there live there too).
 */
export async function startOvs(dir, { netns } = {}) {
  const nsExec = netns ? ["netns", "exec", netns] : [];
  const daemon = (name, args, opts) =>
    netns ? run("ip", [...nsExec, sbin(name), ...args], opts) : run(sbin(name), args, opts);
  const sock = path.join(dir, "db.sock");
  if (Buffer.byteLength(sock) > 100)
    throw new Error(`OVS dir too long for a unix socket (${sock}); use a shorter dataDir`);
  if (!fs.existsSync(OVS_SCHEMA))
    throw new Error(`Open vSwitch is not installed (${OVS_SCHEMA} missing): apt-get install openvswitch-switch`);
  await fsp.mkdir(dir, { recursive: true });
  await stopOvsDaemons(dir); // stale daemons of a crashed run
  // Only one userspace-datapath ovs-vswitchd fits in a network namespace: each one opens the
  // kernel tap "ovs-netdev", a second one fails with EBUSY. Say so instead of a broken bridge.
  // (/sys/class/net is this process's namespace: a fresh namespace has its own "ovs-netdev".)
  if (!netns && fs.existsSync("/sys/class/net/ovs-netdev")) {
    const others = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p) && procComm(Number(p)) === "ovs-vswitchd");
    if (others.length > 0) {
      const who = others.map((p) => `pid ${p}: ${procArgv(Number(p)).join(" ").slice(0, 200)}`).join("; ");
      throw new Error(
        `another userspace Open vSwitch is running on this machine (it holds the "ovs-netdev" tap): ${who}. Stop it first, or reuse its fleet.`,
      );
    }
  }
  const env = ovsEnv(dir);
  const db = `unix:${sock}`;
  const conf = path.join(dir, "conf.db");
  if (!fs.existsSync(conf)) await run(sbin("ovsdb-tool"), ["create", conf, OVS_SCHEMA], { env });
  await fsp.rm(sock, { force: true });
  await daemon(
    "ovsdb-server",
    [
      conf,
      `--remote=punix:${sock}`,
      `--pidfile=${path.join(dir, "ovsdb-server.pid")}`,
      `--unixctl=${path.join(dir, "ovsdb-server.ctl")}`,
      `--log-file=${path.join(dir, "ovsdb-server.log")}`,
      "--detach",
      "--no-chdir",
    ],
    { env },
  );
  await run("ovs-vsctl", [`--db=${db}`, "--timeout=10", "--no-wait", "init"], { env });
  await daemon(
    "ovs-vswitchd",
    [
      db,
      `--pidfile=${path.join(dir, "ovs-vswitchd.pid")}`,
      `--unixctl=${path.join(dir, "ovs-vswitchd.ctl")}`,
      `--log-file=${path.join(dir, "ovs-vswitchd.log")}`,
      "--detach",
      "--no-chdir",
    ],
    { env },
  );
  // Without --no-wait this returns only once vswitchd applied it: proves vswitchd is up.
  await run(
    "ovs-vsctl",
    [`--db=${db}`, "--timeout=15", "set", "Open_vSwitch", ".", "external_ids:polyarch-private=true"],
    { env, timeoutMs: 20_000 },
  );
  return { dir, db, env };
}
export async function stopOvsDaemons(dir) {
  await killPid(readPid(path.join(dir, "ovs-vswitchd.pid")), isComm("ovs-vswitchd"));
  await killPid(readPid(path.join(dir, "ovsdb-server.pid")), isComm("ovsdb-server"));
}
export async function vsctl(ovs, args, timeoutMs = 10_000) {
  return (await run("ovs-vsctl", [`--db=${ovs.db}`, "--timeout=8", ...args], { env: ovs.env, timeoutMs })).stdout;
}
async function deleteLink(name) {
  if (NAME_RE.test(name) && fs.existsSync(`/sys/class/net/${name}`))
    await run("ip", ["link", "del", "dev", name], { timeoutMs: 5_000 }).catch(() => {});
}
/** Deletes every port (tap) and bridge of this private instance, then stops its daemons. */
export async function teardownOvs(ovs, extraLinks = []) {
  const links = new Set(extraLinks);
  const namespaces = new Set();
  if (fs.existsSync(path.join(ovs.dir, "db.sock"))) {
    try {
      const bridges = (await vsctl(ovs, ["list-br"]))
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean);
      for (const br of bridges) {
        links.add(br);
        const ports = (await vsctl(ovs, ["list-ports", br]).catch(() => ""))
          .split("\n")
          .map((s) => s.trim())
          .filter(Boolean);
        for (const p of ports) {
          links.add(p);
          // A killed agent leaves its VLAN namespaces (DHCP, routers: ADR 057/058); their ports name them.
          for (const key of ["polyarch-dhcp", "polyarch-router"]) {
            const ns = (await vsctl(ovs, ["--if-exists", "get", "interface", p, `external_ids:${key}`]).catch(() => ""))
              .trim()
              .replace(/^"|"$/g, "");
            if (/^pa-dhcp-[0-9a-f]{8}$/.test(ns)) namespaces.add(ns);
          }
        }
        await vsctl(ovs, ["--if-exists", "del-br", br]).catch(() => {});
      }
    } catch {
      /* db already gone */
    }
  }
  await stopOvsDaemons(ovs.dir);
  for (const l of links) await deleteLink(l);
  for (const ns of namespaces)
    if (fs.existsSync(`/run/netns/${ns}`)) await run("ip", ["netns", "del", ns], { timeoutMs: 5_000 }).catch(() => {});
}

/**
 * Synchronous last resort on process exit: with `deleteLinks`, every bridge and port (tap) of this
 * instance is deleted first; then its daemons are killed.
 */
export function teardownOvsSync(ovs, deleteLinks) {
  if (deleteLinks) {
    try {
      const env = ovs.env;
      const brs = execFileSync("ovs-vsctl", [`--db=${ovs.db}`, "--timeout=3", "list-br"], { env, timeout: 4_000 })
        .toString()
        .split("\n")
        .filter(Boolean);
      for (const br of brs) {
        const ports = execFileSync("ovs-vsctl", [`--db=${ovs.db}`, "--timeout=3", "list-ports", br], {
          env,
          timeout: 4_000,
        })
          .toString()
          .split("\n")
          .filter(Boolean);
        for (const l of [...ports, br])
          if (NAME_RE.test(l) && fs.existsSync(`/sys/class/net/${l}`))
            execFileSync("ip", ["link", "del", "dev", l], { timeout: 4_000, stdio: "ignore" });
      }
    } catch {
      /* best effort */
    }
  }
  killPidSync(readPid(path.join(ovs.dir, "ovs-vswitchd.pid")), isComm("ovs-vswitchd"));
  killPidSync(readPid(path.join(ovs.dir, "ovsdb-server.pid")), isComm("ovsdb-server"));
}
