// A PostgreSQL cluster of a test's own, for tests that stop, restart or crash the server
// (lib/server/platform/pg-restart.int.test.ts): the shared server of scripts/pg-test-server.sh must
// never be restarted under other tests. initdb in a temp dir, listening on 127.0.0.1 and a free
// port only (its unix socket inside that dir), trust auth for loopback (nothing else can reach it).
// Binaries as scripts/pg-test-server.sh finds them: POLYARCH_PG_BINDIR, else /usr/lib/postgresql/<v>/bin.
import { execFile } from "node:child_process";
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

export interface PrivatePg {
  /** postgresql://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  dir: string;
  /** `pg_ctl stop -m <mode>`: "fast" ends sessions cleanly, "immediate" is a crash (recovery at the next start). */
  stop(mode: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** `pg_ctl restart -m <mode>` */
  restart(mode: "fast" | "immediate"): Promise<void>;
  /** Stops the server (if running) and removes its directory. */
  destroy(): Promise<void>;
}

/** The bin dir with initdb and pg_ctl (15 preferred, like scripts/pg-test-server.sh), or null. */
export function postgresBinDir(): string | null {
  const fromEnv = process.env.POLYARCH_PG_BINDIR;
  if (fromEnv) return existsSync(join(fromEnv, "pg_ctl")) ? fromEnv : null;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const dirs = readdirSync(root)
    .map((v) => join(root, v, "bin"))
    .filter((d) => existsSync(join(d, "pg_ctl")) && existsSync(join(d, "initdb")));
  return dirs.find((d) => d.includes("/15/")) ?? dirs.sort().at(-1) ?? null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => (address && typeof address === "object" ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function run(argv: string[]): Promise<string> {
  // initdb and the server refuse to run as root: as root, everything runs as the `postgres` user.
  const cmd = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...argv] : argv;
  return new Promise((resolve, reject) =>
    execFile(cmd[0]!, cmd.slice(1), { timeout: 120_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${argv.join(" ")} failed: ${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

/** Starts a fresh private cluster; null when PostgreSQL is not installed. */
export async function startPrivatePg(): Promise<PrivatePg | null> {
  const bin = postgresBinDir();
  if (!bin) return null;
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "polyarch-private-pg-"));
  const data = join(dir, "data");
  const sock = join(dir, "sock");
  mkdirSync(data, { mode: 0o700 });
  mkdirSync(sock, { mode: 0o700 });
  if (root) for (const d of [dir, data, sock]) chownSync(d, postgresUser().uid, postgresUser().gid);
  const port = await freePort();
  const superuser = root ? "postgres" : userInfo().username;
  await run([join(bin, "initdb"), "-D", data, "-U", superuser, "-A", "trust", "-E", "UTF8", "--locale=C"]);
  // Appended last, so these win. No fsync (the machine does not crash, only PostgreSQL), but commits stay
  // synchronous: with synchronous_commit = off a crash (stop -m immediate) loses the last commits, which
  // the tests of a crash must not blame on the application.
  const conf = [
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${sock}'`,
    "fsync = off",
    "synchronous_commit = on",
    "",
  ].join("\n");
  appendFileSync(join(data, "postgresql.conf"), conf);
  const log = join(dir, "server.log");
  const pgCtl = (...args: string[]) => run([join(bin, "pg_ctl"), "-D", data, "-w", "-t", "60", ...args]);
  let running = false;
  const pg: PrivatePg = {
    url: `postgresql://${superuser}@127.0.0.1:${port}/postgres`,
    port,
    dir,
    async start() {
      await pgCtl("-l", log, "start");
      running = true;
    },
    async stop(mode) {
      await pgCtl("-m", mode, "stop");
      running = false;
    },
    async restart(mode) {
      await pgCtl("-l", log, "-m", mode, "restart");
      running = true;
    },
    async destroy() {
      if (running) await pg.stop("immediate").catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await pg.start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return pg;
}

let ids: { uid: number; gid: number } | undefined;
function postgresUser() {
  if (!ids) {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.startsWith("postgres:"));
    if (!line) throw new Error("no postgres user in /etc/passwd (install postgresql)");
    const [, , uid, gid] = line.split(":");
    ids = { uid: Number(uid), gid: Number(gid) };
  }
  return ids;
}
