// The outer half of the OVS/netns integration tests (port security, security groups, DHCP, routers):
// the test file runs again under vitest inside a private network + mount namespace (`unshare`), so
// every bridge, veth, namespace and address it makes dies with that namespace and no packet can leave
// the machine. The inner run sees `<envPrefix>_NETNS=1` and `<envPrefix>_ROOT=<a fresh temp dir>`, and
// writes `<root>/result.json` ({ passed: true, … }) when it reaches its end.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { stopOvsInstance } from "./ovs-instance";
import { alive } from "./support";

const REPO = path.resolve(__dirname, "../../..");

export interface PrivateNetnsRun<R> {
  title: string;
  /** the outer test's name */
  it: string;
  /** import.meta.url of the test file */
  file: string;
  /** POLYARCH_FW, POLYARCH_DHCP, …: the inner run gets <prefix>_NETNS=1 and <prefix>_ROOT */
  envPrefix: string;
  /** short name for logs and the temp dir ("firewall" → /tmp/pa-firewall-XXXX) */
  tag: string;
  /** why the host cannot run it ("" = it can) */
  skipReason: string;
  timeoutMs: number;
  /** more checks on what the inner run wrote (and on the root dir) after it passed */
  after?: (result: R, root: string) => void;
}

/** Is this the inner run of a test whose outer half uses envPrefix? */
export const inPrivateNetns = (envPrefix: string) => process.env[`${envPrefix}_NETNS`] === "1";
/** The inner run's temp dir. */
export const privateNetnsRoot = (envPrefix: string) => process.env[`${envPrefix}_ROOT`] ?? "";

export function describeInPrivateNetns<R extends { passed: boolean }>(o: PrivateNetnsRun<R>): void {
  const skip = inPrivateNetns(o.envPrefix) || Boolean(o.skipReason);
  describe.skipIf(skip)(`${o.title}${o.skipReason ? ` — skipped: ${o.skipReason}` : ""}`, () => {
    let root = "";
    let child: ChildProcess | null = null;

    afterAll(async () => {
      if (child?.pid && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL"); // our own process group: unshare -> sh -> vitest -> workers
        } catch {
          /* gone */
        }
      }
      if (root) {
        // The inner run stops its OVS; this catches a killed inner run (the namespace dies with it).
        await stopOvsInstance(path.join(root, "ovs")).catch(() => {});
        fs.rmSync(root, { recursive: true, force: true });
      }
    });

    it(
      o.it,
      async () => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), `pa-${o.tag}-`));
        const env = Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !/^(VITEST|TINYPOOL)/.test(k)),
        ) as NodeJS.ProcessEnv;
        env[`${o.envPrefix}_NETNS`] = "1";
        env[`${o.envPrefix}_ROOT`] = root;
        child = spawn(
          "unshare",
          [
            "--net",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            // This namespace's sysfs; a private /run/netns so the named namespaces vanish with it.
            'mount -t sysfs sysfs /sys && mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns && exec "$@"',
            "sh",
            process.execPath,
            path.join(REPO, "node_modules", "vitest", "vitest.mjs"),
            "run",
            "--project",
            "integration-netns", // vitest.config.ts: the project of the files that use this
            path.relative(REPO, fileURLToPath(o.file)),
            "--no-color",
          ],
          { cwd: REPO, env, detached: true, stdio: ["ignore", "pipe", "pipe"] },
        );
        let output = "";
        child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
        child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
        const exit = await new Promise<number | null>((resolve, reject) => {
          child!.on("error", reject);
          child!.on("exit", (code) => resolve(code));
        });
        const resultFile = path.join(root, "result.json");
        const result = fs.existsSync(resultFile) ? (JSON.parse(fs.readFileSync(resultFile, "utf8")) as R) : null;
        console.log(`[${o.tag}] inner run (private netns):\n${output.split("\n").slice(-25).join("\n")}`);
        expect(exit, `inner run failed:\n${output.slice(-6000)}`).toBe(0);
        expect(result, `inner run did not reach the end (skipped?):\n${output.slice(-3000)}`).toMatchObject({
          passed: true,
        });
        // No OVS daemon of the run outlives it.
        for (const d of ["ovs-vswitchd", "ovsdb-server"]) {
          const pidFile = path.join(root, "ovs", `${d}.pid`);
          const pid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8").trim() : NaN);
          if (Number.isInteger(pid) && pid > 1) expect(alive(pid), `${d} still running`).toBe(false);
        }
        o.after?.(result!, root);
      },
      o.timeoutMs,
    );
  });
}
