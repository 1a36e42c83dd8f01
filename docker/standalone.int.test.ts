// The controller image's runtime, without Docker: the standalone build (`output: "standalone"`)
// assembled exactly as the image's build stage does (docker/assemble-standalone.mjs), copied
// outside the repository (so nothing resolves from the repo's node_modules), started through the
// image's entrypoint (migrations, then dist/server.mjs) on a loopback port with a fresh SQLite
// database. Needs a build: `npx next build` and `node scripts/build-server.mjs` (run them before
// this file — scripts/test-all.sh).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assemble, standaloneProblem } from "./assemble-standalone.mjs";

const ROOT = join(__dirname, "..");
const problem = standaloneProblem(join(ROOT, ".next"));
const skipReason = problem ? `skipped: ${problem}` : "";
if (problem) console.warn(`docker/standalone.int.test.ts ${skipReason}`);

function du(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += du(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

describe.skipIf(Boolean(problem))(
  `standalone controller (container layout)${skipReason ? ` — ${skipReason}` : ""}`,
  () => {
    let tmp = "";
    let app = "";
    let child: ChildProcess | undefined;
    let baseUrl = "";
    let output = "";
    let native: Record<string, string> = {};
    let startMs = 0;
    let exited: Promise<number | null> = Promise.resolve(null);

    beforeAll(async () => {
      tmp = mkdtempSync(join(tmpdir(), "pa-standalone-"));
      app = join(tmp, "app");
      const t0 = Date.now();
      const r = await assemble({ out: app, nativeManifest: join(tmp, "native", "package.json") });
      native = r.native;
      console.log(
        `standalone: assembled ${(du(app) / 2 ** 20).toFixed(0)} MiB in ${Date.now() - t0} ms; native add-ons: ${JSON.stringify(native)}`,
      );

      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: tmp,
        NODE_ENV: "production",
        POLYARCH_DATA_DIR: join(tmp, "data"),
        BETTER_AUTH_SECRET: "standalone-test-secret-0123456789abcdef",
        POLYARCH_ADMIN_EMAIL: "admin@standalone.test",
        POLYARCH_ADMIN_PASSWORD: "standalone-admin-pw",
        POLYARCH_JOIN_TOKEN: "standalone-join-token-0123456789",
      };
      const t1 = Date.now();
      // As the image does: WORKDIR /app, ENTRYPOINT node docker/controller-start.mjs; port 0 = any free port.
      const proc = spawn(process.execPath, [join(app, "docker/controller-start.mjs"), "-H", "127.0.0.1", "-p", "0"], {
        cwd: app,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      child = proc;
      exited = new Promise((resolve) => proc.once("exit", (code) => resolve(code)));
      baseUrl = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no server.listening within 90 s:\n${output}`)), 90_000);
        const onData = (b: Buffer) => {
          output += b.toString();
          const m = /"event":"server\.listening","url":"(http:\/\/[^"]+)"/.exec(output);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        };
        proc.stdout!.on("data", onData);
        proc.stderr!.on("data", onData);
        proc.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`exited with ${code} before listening:\n${output}`));
        });
      });
      startMs = Date.now() - t1;
    }, 180_000);

    afterAll(async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child?.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(killer);
      }
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it("the assembled tree is self-contained and carries no state or secrets", () => {
      const top = readdirSync(app).sort();
      expect(top).toEqual(
        // messages/: the i18n catalogue, read at run time (ADR 051)
        [
          ".next",
          "dist",
          "docker",
          "messages",
          "node_modules",
          "package.json",
          "prisma",
          "public",
          "scripts",
          "server.js",
        ]
          .filter((e) => e !== "public" || existsSync(join(ROOT, "public")))
          .sort(),
      );
      for (const bad of ["data", ".env", "dist/agent.mjs", ".cache", "lib", "server", "app"])
        expect(existsSync(join(app, bad)), bad).toBe(false);
      expect(readdirSync(join(app, "dist"))).toEqual(["server.mjs"]); // the custom server, one bundle
      expect(existsSync(join(app, ".next/static"))).toBe(true);
      expect(existsSync(join(app, "node_modules/zod/package.json"))).toBe(true); // scripts/backup.mjs imports it
      expect(readdirSync(join(app, "prisma/migrations")).length).toBeGreaterThan(0);
      expect(readdirSync(join(app, "prisma/postgres/migrations")).length).toBeGreaterThan(0);
      // the per-arch stage gets exact versions of the native add-ons
      expect(native["better-sqlite3"]).toMatch(/^\d+\.\d+\.\d+/);
      expect(JSON.parse(readFileSync(join(tmp, "native/package.json"), "utf8")).dependencies).toEqual(native);
    });

    it("migrates the fresh database at start, then serves /api/health with 200", async () => {
      expect(output).toMatch(/migrate: sqlite file:.*: applied \d+ migration\(s\)/);
      const res = await fetch(`${baseUrl}/api/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
      expect(res.headers.get("x-content-type-options")).toBe("nosniff"); // next.config.mjs headers survive
      console.log(`standalone: first listening after ${startMs} ms (migrations included)`);
    });

    it("start-up tasks run in the standalone tree: first admin, cluster CA; the admin can sign in", async () => {
      const dataDir = join(tmp, "data");
      const deadline = Date.now() + 60_000;
      const caFile = join(dataDir, "pki/ca/cert.pem");
      const wantCa = existsSync(join(ROOT, "lib/server/platform/pki.ts"));
      while (Date.now() < deadline && !(/first admin created/.test(output) && (!wantCa || existsSync(caFile))))
        await new Promise((r) => setTimeout(r, 200));
      expect(output).toContain("admin@standalone.test");
      if (wantCa)
        expect(existsSync(caFile), "cluster CA created at start (pure-JS x509 library traced into the tree)").toBe(
          true,
        );
      expect(output).not.toMatch(/start-up tasks failed|Cannot find module|ERR_MODULE_NOT_FOUND/);
      const res = await fetch(`${baseUrl}/api/auth/sign-in/email`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: baseUrl },
        body: JSON.stringify({ email: "admin@standalone.test", password: "standalone-admin-pw" }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(res.headers.get("set-cookie")).toMatch(/session_token=/);
    });

    it("serves pages and their static assets", async () => {
      const page = await fetch(`${baseUrl}/login`);
      expect(page.status).toBe(200);
      const html = await page.text();
      const asset = /\/_next\/static\/[^"]+\.(css|js)/.exec(html)?.[0];
      expect(asset, "a static asset referenced by /login").toBeTruthy();
      const res = await fetch(`${baseUrl}${asset}`);
      expect(res.status).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    });

    it("is the custom server: the console WebSocket upgrade reaches the ticket check", async () => {
      const status = await new Promise<{ code: number; body: string }>((resolve, reject) => {
        const req = request(`${baseUrl}/api/v1/vms/vm-x/console?ticket=forged`, {
          headers: {
            connection: "Upgrade",
            upgrade: "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          },
        });
        req.on("response", (res) => {
          let body = "";
          res.on("data", (c) => (body += c));
          res.on("end", () => resolve({ code: res.statusCode ?? 0, body }));
        });
        req.on("upgrade", () => reject(new Error("a forged ticket was upgraded")));
        req.on("error", reject);
        req.end();
      });
      expect(status.code).toBe(401);
      expect(JSON.parse(status.body).error.code).toBe("unauthenticated");
    });

    it("stops cleanly on SIGTERM (what Kubernetes sends)", async () => {
      child!.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 20_000))]);
      expect(code).toBe(0);
    });
  },
);
