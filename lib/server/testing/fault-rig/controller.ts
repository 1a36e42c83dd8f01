// A real controller process for fault tests: the built console (`next build` + dist/server.mjs, as
// Playwright and production run it) on the database and data dir of the test process, so the test
// can read the same rows (db()) while it kills, stops and restarts the controller.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

// import.meta.url, not __dirname: the soak bench (bench/soak.ts) runs this file as ES module under tsx.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
export const ADMIN = { email: "admin@faults.test", password: "fault-admin-password" };
export const JOIN_TOKEN = "fault-join-token-0123456789abcdef";

/** Why the built console cannot be started, or null: `npm test` builds it before vitest. */
export function missingBuild(): string | null {
  for (const f of [".next/BUILD_ID", "dist/server.mjs", "dist/agent.mjs"])
    if (!fs.existsSync(path.join(REPO, f)))
      return `${f} is missing: run \`npx next build\` and \`npm run agent:build\``;
  return null;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface ControllerOptions {
  /** extra environment (e.g. POLYARCH_HA_LEASE_MS); DATABASE_URL / POLYARCH_DATA_DIR come from process.env */
  env?: Record<string, string>;
  /**
   * Run it inside a network namespace (faults/netns.ts), listening on all of that namespace's
   * addresses: agents reach its TLS port at `agentHost` (also a name of its certificate); the test
   * reaches the console port through a bridge that already listens on 127.0.0.1:`consolePort` here.
   */
  netns?: { name: string; agentHost: string; consolePort: number };
}

export class ControllerProcess {
  private child: ChildProcess | null = null;
  private log = "";
  private constructor(
    readonly port: number,
    readonly agentTlsPort: number,
    private readonly env: NodeJS.ProcessEnv,
    private readonly netns?: ControllerOptions["netns"],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get agentTlsUrl(): string {
    return `https://${this.netns?.agentHost ?? "127.0.0.1"}:${this.agentTlsPort}`;
  }
  get caFile(): string {
    return path.join(this.env.POLYARCH_DATA_DIR!, "pki/ca/cert.pem");
  }
  get pid(): number | null {
    return this.child?.pid ?? null;
  }
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }
  /** The last few KiB of its stdout + stderr, for failure messages. */
  logTail(): string {
    return this.log.slice(-4000);
  }

  static async start(opts: ControllerOptions = {}): Promise<ControllerProcess> {
    const missing = missingBuild();
    if (missing) throw new Error(missing);
    const dataDir = process.env.POLYARCH_DATA_DIR;
    const databaseUrl = process.env.DATABASE_URL;
    if (!dataDir || !databaseUrl) throw new Error("call useFreshDatabase() first: the controller shares its database");
    const [port, agentTlsPort] = [opts.netns?.consolePort ?? (await freePort()), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: "production",
      DATABASE_URL: databaseUrl,
      POLYARCH_DATA_DIR: dataDir,
      POLYARCH_PUBLIC_URL: `http://127.0.0.1:${port}`,
      POLYARCH_AGENT_TLS_PORT: String(agentTlsPort),
      POLYARCH_AGENT_API_ON_CONSOLE_PORT: "false",
      POLYARCH_ADMIN_EMAIL: ADMIN.email,
      POLYARCH_ADMIN_PASSWORD: ADMIN.password,
      POLYARCH_JOIN_TOKEN: JOIN_TOKEN,
      POLYARCH_AUTO_APPROVE_HOSTS: "true",
      POLYARCH_TRUSTED_PROXIES: "",
      POLYARCH_HEARTBEAT_TIMEOUT_MS: "12000",
      POLYARCH_DEMO_IMAGES_DIR: path.join(REPO, ".cache/fixtures"),
      ...(opts.netns ? { POLYARCH_AGENT_TLS_NAMES: opts.netns.agentHost } : {}),
      ...opts.env,
    };
    const c = new ControllerProcess(port, agentTlsPort, env, opts.netns);
    await c.restart();
    return c;
  }

  /** Starts it (again, on the same ports and database) and waits for /api/health. */
  async restart(): Promise<void> {
    if (this.running) throw new Error("the controller is still running");
    const server = [path.join(REPO, "dist/server.mjs"), "-p", String(this.port)];
    // `ip netns exec` execs node in place: the child's pid is the controller's.
    const [cmd, ...args] = this.netns
      ? ["ip", "netns", "exec", this.netns.name, process.execPath, ...server, "-H", "0.0.0.0"]
      : [process.execPath, ...server, "-H", "127.0.0.1"];
    const child = spawn(cmd!, args, { cwd: REPO, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-64_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const end = Date.now() + 120_000;
    for (;;) {
      if (!this.running) throw new Error(`the controller exited at start:\n${this.logTail()}`);
      const ok = await fetch(`${this.url}/api/health`, { signal: AbortSignal.timeout(5_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok && fs.existsSync(this.caFile)) return;
      if (Date.now() > end) throw new Error(`the controller did not answer /api/health in 120 s:\n${this.logTail()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Sends `signal` (SIGKILL: a crash) and waits for the exit; SIGSTOP/SIGCONT return at once. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    if (signal === "SIGSTOP" || signal === "SIGCONT") {
      child.kill(signal);
      return;
    }
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await exited;
  }

  /** SIGTERM (SIGCONT first, in case a test froze it), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    child.kill("SIGCONT");
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }

  /** Resident set size in KiB (/proc), or null when it is not running. */
  rssKb(): number | null {
    if (!this.running || !this.pid) return null;
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  }
}
