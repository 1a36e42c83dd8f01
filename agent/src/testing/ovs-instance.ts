// A private, userspace-only Open vSwitch (own ovsdb-server + ovs-vswitchd, own run/db/log dir).
// Used by tests and by the fleet scripts so several agents on one machine each get their own
// switch and nothing touches the system OVS. Stopped by pidfile, never by process name.
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { run } from "../util";

export const DEFAULT_OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema";

export interface OvsInstance {
  dir: string;
  /** value for ovs-vsctl --db= / the agent's --ovs-db */
  db: string;
  /** env that keeps ovs-* tools inside `dir` */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export interface StartOvsOptions {
  schema?: string;
  timeoutMs?: number;
}

function ovsEnv(dir: string): NodeJS.ProcessEnv {
  // Without these, ovs-vswitchd puts its control socket and more under /var/run/openvswitch.
  return {
    ...process.env,
    OVS_RUNDIR: dir,
    OVS_DBDIR: dir,
    OVS_LOGDIR: dir,
    OVS_SYSCONFDIR: dir,
    OVS_PKGDATADIR: "/usr/share/openvswitch",
  };
}

function sbin(name: string): string {
  for (const d of ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin", "/sbin"]) {
    const p = path.join(d, name);
    if (fs.existsSync(p)) return p;
  }
  return name;
}

export async function startOvsInstance(dir: string, opts: StartOvsOptions = {}): Promise<OvsInstance> {
  const abs = path.resolve(dir);
  const sock = path.join(abs, "db.sock");
  if (Buffer.byteLength(sock) > 100) throw new Error(`OVS dir too long for a unix socket path (${sock})`);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  await fsp.mkdir(abs, { recursive: true });
  const env = ovsEnv(abs);
  const db = `unix:${sock}`;
  const conf = path.join(abs, "conf.db");
  try {
    if (!fs.existsSync(conf))
      await run("ovsdb-tool", ["create", conf, opts.schema ?? DEFAULT_OVS_SCHEMA], { env, timeoutMs });
    await run(
      sbin("ovsdb-server"),
      [
        conf,
        `--remote=punix:${sock}`,
        `--pidfile=${path.join(abs, "ovsdb-server.pid")}`,
        `--unixctl=${path.join(abs, "ovsdb-server.ctl")}`,
        `--log-file=${path.join(abs, "ovsdb-server.log")}`,
        "--detach",
        "--no-chdir",
      ],
      { env, timeoutMs },
    );
    await run("ovs-vsctl", [`--db=${db}`, "--timeout=10", "--no-wait", "init"], { env, timeoutMs });
    await run(
      sbin("ovs-vswitchd"),
      [
        db,
        `--pidfile=${path.join(abs, "ovs-vswitchd.pid")}`,
        `--unixctl=${path.join(abs, "ovs-vswitchd.ctl")}`,
        `--log-file=${path.join(abs, "ovs-vswitchd.log")}`,
        "--detach",
        "--no-chdir",
      ],
      { env, timeoutMs },
    );
    // A db change without --no-wait blocks until vswitchd has applied it: proves it is up.
    await run(
      "ovs-vsctl",
      [`--db=${db}`, "--timeout=10", "set", "Open_vSwitch", ".", "external_ids:polyarch-private=true"],
      { env, timeoutMs },
    );
  } catch (e) {
    await stopOvsInstance(abs).catch(() => {});
    throw e;
  }
  return { dir: abs, db, env, stop: () => stopOvsInstance(abs) };
}

async function readPid(file: string): Promise<number | null> {
  try {
    const pid = Number((await fsp.readFile(file, "utf8")).trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Guards against a stale pidfile whose pid now belongs to someone else. */
function isProcess(pid: number, comm: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm.slice(0, 15);
  } catch {
    return false;
  }
}

async function killByPidfile(pidfile: string, comm: string, graceMs = 5_000): Promise<void> {
  const pid = await readPid(pidfile);
  if (pid === null || !alive(pid) || !isProcess(pid, comm)) return;
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (alive(pid) && isProcess(pid, comm)) process.kill(pid, "SIGKILL");
}

/**
 * Deletes the instance's bridges (a netdev bridge's own tap device is persistent and would
 * outlive ovs-vswitchd), then stops both daemons by pidfile. Safe to call twice.
 */
export async function stopOvsInstance(dir: string): Promise<void> {
  const abs = path.resolve(dir);
  const env = ovsEnv(abs);
  const db = `unix:${path.join(abs, "db.sock")}`;
  let bridges: string[] = [];
  const vswitchdPid = await readPid(path.join(abs, "ovs-vswitchd.pid"));
  const vswitchdUp = vswitchdPid !== null && alive(vswitchdPid) && isProcess(vswitchdPid, "ovs-vswitchd");
  if (fs.existsSync(path.join(abs, "db.sock"))) {
    try {
      const { stdout } = await run("ovs-vsctl", [`--db=${db}`, "--timeout=5", "list-br"], { env, timeoutMs: 8_000 });
      bridges = stdout
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean);
      for (const br of bridges) {
        // With vswitchd alive, wait for it to tear the bridge down; otherwise just edit the db.
        await run(
          "ovs-vsctl",
          [`--db=${db}`, "--timeout=5", ...(vswitchdUp ? [] : ["--no-wait"]), "--if-exists", "del-br", br],
          { env, timeoutMs: 8_000 },
        ).catch(() => {});
      }
    } catch {
      /* db already gone */
    }
  }
  await killByPidfile(path.join(abs, "ovs-vswitchd.pid"), "ovs-vswitchd");
  await killByPidfile(path.join(abs, "ovsdb-server.pid"), "ovsdb-server");
  // Leftover bridge taps (vswitchd killed hard, or was down): remove only names from our own db.
  for (const br of bridges) {
    if (/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(br) && fs.existsSync(`/sys/class/net/${br}`)) {
      await run("ip", ["link", "del", "dev", br], { timeoutMs: 5_000 }).catch(() => {});
    }
  }
}

// CLI for shell/fleet scripts (no TypeScript build needed with tsx):
//   npx tsx agent/src/testing/ovs-instance.ts start <dir>   -> prints {"dir","db"} as JSON
//   npx tsx agent/src/testing/ovs-instance.ts stop <dir>
// Run it inside the agent's network namespace (ip netns exec <ns> ...) when each agent has one:
// a netdev bridge is a kernel tap device named like the bridge, so bridge names must be unique
// per namespace.
const invokedAs = process.argv[1] ? path.resolve(process.argv[1]) : "";
if (invokedAs && import.meta.url === `file://${invokedAs}`) {
  const [cmd, dir] = process.argv.slice(2);
  if ((cmd !== "start" && cmd !== "stop") || !dir) {
    process.stderr.write("usage: ovs-instance.ts start|stop <dir>\n");
    process.exit(2);
  }
  const done =
    cmd === "start"
      ? startOvsInstance(dir).then((i) => process.stdout.write(JSON.stringify({ dir: i.dir, db: i.db }) + "\n"))
      : stopOvsInstance(dir);
  done.catch((e: unknown) => {
    process.stderr.write(`ovs-instance ${cmd} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
