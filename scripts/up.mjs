// `npm run up`: one command from a fresh Debian machine with Node 20 to a running console with a
// local mixed fleet. Installs what is missing, migrates, builds, starts the console, the local
// agents and registers demo images; Ctrl-C / SIGTERM stops everything it started.
// POLYARCH_FLEET=x86_64:2,aarch64:2 asks for several agents per arch (default: one of each), e.g.
// to try migration, maintenance and HA on one machine.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { parseFleetSpec } from "./fleet/fleet-spec.mjs";

const root = resolve(new URL("..", import.meta.url).pathname);
const dataDir = resolve(process.env.POLYARCH_DATA_DIR ?? join(root, "data"));
const port = Number(process.env.PORT ?? 3000);
const publicUrl = process.env.POLYARCH_PUBLIC_URL ?? `http://localhost:${port}`;
// The agents talk to the controller over TLS (server/agent-tls-listener.ts): default PORT + 443 (3000 -> 3443); 0 = plain HTTP.
const agentTlsPort = Number(process.env.POLYARCH_AGENT_TLS_PORT ?? Math.min(port + 443, 65535));
const children = [];
let fleet = null;
let stopping = false;

const log = (msg) => console.log(`[up] ${msg}`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (["node_modules", ".next", "generated", ".cache", "data"].includes(entry.name)) continue;
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  const id = join(root, ".next", "BUILD_ID");
  if (!existsSync(id)) return true;
  const built = statSync(id).mtimeMs;
  return ["app", "components", "lib", "agent"].some(
    (d) => existsSync(join(root, d)) && newestMtime(join(root, d)) > built,
  );
}

async function waitForHealth(url, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the console did not become healthy at ${url} within ${ms / 1000}s`);
}

async function stopAll(code = 0) {
  if (stopping) return;
  stopping = true;
  log("stopping…");
  try {
    await fleet?.stop();
  } catch (e) {
    console.error(e);
  }
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 1500).unref();
}
process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));

async function main() {
  // Checked first: a typo here should not cost an install and a build before it shows.
  const fleetSpec = parseFleetSpec(process.env.POLYARCH_FLEET ?? "x86_64:1,aarch64:1");
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 9))
    throw new Error(`Node ${process.versions.node} is too old: Polyarch needs Node 20.9 or newer`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 }); // the database, secrets and CA key: this user only

  if (process.getuid?.() === 0) run("bash", [join(root, "scripts/install-system-deps.sh")]);
  if (!existsSync(join(root, "node_modules", ".package-lock.json"))) {
    log("installing npm packages (npm ci)");
    run("npm", ["ci", "--no-audit", "--no-fund"]);
  }
  run(process.execPath, [join(root, "scripts/prisma-generate.mjs")]);

  // The join token is kept in the data dir so restarts keep the same cluster secret.
  const tokenFile = join(dataDir, "join-token");
  if (!existsSync(tokenFile)) writeFileSync(tokenFile, "paj_" + randomBytes(24).toString("base64url"), { mode: 0o600 });
  const joinToken = process.env.POLYARCH_JOIN_TOKEN ?? readFileSync(tokenFile, "utf8").trim();

  const env = {
    ...process.env,
    NODE_ENV: "production",
    POLYARCH_DATA_DIR: dataDir,
    PORT: String(port),
    POLYARCH_PUBLIC_URL: publicUrl,
    POLYARCH_JOIN_TOKEN: joinToken,
    POLYARCH_AGENT_TLS_PORT: String(agentTlsPort),
    // The local fleet below joins without an admin's approval (ADR 025); said in the log.
    POLYARCH_AUTO_APPROVE_HOSTS: process.env.POLYARCH_AUTO_APPROVE_HOSTS ?? "true",
  };
  if (env.POLYARCH_AUTO_APPROVE_HOSTS === "true")
    log("new hosts are approved automatically (POLYARCH_AUTO_APPROVE_HOSTS=true, for the local fleet)");

  log("migrating the database");
  run(process.execPath, [join(root, "scripts/migrate.mjs")], { env });

  if (needsBuild()) {
    log("building the console (next build)");
    run(process.execPath, [join(root, "node_modules/next/dist/bin/next"), "build"], {
      env: { ...env, NODE_ENV: "production" },
    });
  }
  run(process.execPath, [join(root, "scripts/build-agent.mjs")]);
  run(process.execPath, [join(root, "scripts/build-server.mjs")]);

  const fixturesDir = join(root, ".cache", "fixtures");
  try {
    log("building demo boot images (cached)");
    run("bash", [join(root, "scripts/fixtures/build.sh")]);
    env.POLYARCH_DEMO_IMAGES_DIR = fixturesDir;
  } catch {
    log("demo images unavailable (fixture build failed); the console still works without them");
  }

  log(`starting the console on ${publicUrl}`);
  // dist/server.mjs (server/main.ts) = `next start` + the console WebSocket + the agent TLS port (docs/decisions/021-typescript-server.md)
  const server = spawn(process.execPath, [join(root, "dist/server.mjs"), "-p", String(port)], {
    cwd: root,
    env,
    stdio: "inherit",
  });
  children.push(server);
  server.on("exit", (code) => {
    if (!stopping) {
      log(`console exited (${code})`);
      stopAll(code ?? 1);
    }
  });
  await waitForHealth(`http://127.0.0.1:${port}`, 120_000);

  try {
    const { startFleet } = await import(join(root, "scripts/fleet/fleet.mjs"));
    // The agents serve mutual TLS with certificates from the controller's CA, pinned to it from the
    // start, and reach the controller on its agent TLS port (verified against the same CA).
    const controllerUrl = agentTlsPort > 0 ? `https://127.0.0.1:${agentTlsPort}` : `http://127.0.0.1:${port}`;
    fleet = await startFleet({
      controllerUrl,
      joinToken,
      dataDir: join(dataDir, "fleet"),
      controllerCa: join(dataDir, "pki", "ca", "cert.pem"),
      fleet: fleetSpec,
      handleSignals: false,
      // DHCP per network (ADR 057) where dnsmasq is installed: these agents stop cleanly with Ctrl-C.
      agentArgs: ["--dhcp", "auto"],
      log,
    });
  } catch (e) {
    log(`local agents could not start: ${e instanceof Error ? e.message : e}`);
  }

  const pwFile = join(dataDir, "initial-admin-password");
  const login = existsSync(pwFile) ? readFileSync(pwFile, "utf8").trim().split("\n") : null;
  console.log("\n  Polyarch is up.");
  console.log(`  Console:  ${publicUrl}`);
  if (fleet)
    console.log(
      `  Fleet:    ${fleet.agents.map((a) => a.machineId).join(", ")} (POLYARCH_FLEET=x86_64:2,aarch64:2 for more)`,
    );
  if (agentTlsPort > 0)
    console.log(
      `  Agents:   https://127.0.0.1:${agentTlsPort} (agent API over TLS; CA ${join(dataDir, "pki", "ca", "cert.pem")})`,
    );
  if (login) console.log(`  Login:    ${login[0]} / ${login[1]}   (first start; stored in ${pwFile})`);
  else
    console.log(
      `  Login:    ${process.env.POLYARCH_ADMIN_EMAIL ?? "admin@polyarch.local"} (password from POLYARCH_ADMIN_PASSWORD or ${pwFile})`,
    );
  console.log("  Stop:     Ctrl-C\n");
}

main().catch((e) => {
  console.error(`[up] ${e instanceof Error ? e.message : e}`);
  process.exitCode = 1; // stopAll's exit timer is unref'd: the process may end before it fires
  stopAll(1);
});
