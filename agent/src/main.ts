// Entry point of the node agent (bundled to dist/agent.mjs by scripts/build-agent.mjs).
// Exit codes: 0 clean shutdown, 1 start-up failure, 2 bad configuration.
import { startAgent, type RunningAgent } from "./agent";
import { ConfigError, parseConfig, USAGE } from "./config";
import { runWatchdog, WATCHDOG_COMMAND } from "./fence";
import { AGENT_VERSION } from "./host";
import { createLogger } from "./util";

const log = createLogger({ agent: "polyarch", pid: process.pid });

async function main(): Promise<void> {
  // `agent.mjs fence-watchdog --state-dir DIR`: the fence watchdog the agent starts (ADR 036).
  if (process.argv[2] === WATCHDOG_COMMAND) process.exit(await runWatchdog(process.argv.slice(3)));
  let cfg;
  try {
    cfg = parseConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`polyarch-agent: invalid configuration:\n${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (cfg === "help") {
    process.stdout.write(USAGE);
    return;
  }

  // The agent must outlive any stray rejection: VMs and heartbeats depend on it.
  process.on("unhandledRejection", (reason) =>
    log("error", "agent.unhandled_rejection", {
      error: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason),
    }),
  );

  log("info", "agent.starting", {
    version: AGENT_VERSION,
    node: process.version,
    nodeArch: process.arch,
    controller: cfg.controller ?? null,
    listen: `${cfg.listen.host}:${cfg.listen.port}`,
    stateDir: cfg.stateDir,
    bridge: cfg.bridge,
    ovsDb: cfg.ovsDb ?? "system",
  });

  let agent: RunningAgent;
  try {
    agent = await startAgent(cfg, log, { watchdogEntry: process.argv[1] });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`polyarch-agent: ${e.message}\n`);
      process.exit(2);
    }
    log("error", "agent.start_failed", { error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  }

  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log("warn", "agent.forced_exit", { signal });
      process.exit(1);
    }
    log("info", "agent.stopping", { signal, note: "VMs keep running" });
    const hard = setTimeout(() => {
      log("error", "agent.stop_timeout");
      process.exit(1);
    }, 15_000);
    hard.unref();
    agent.stop().then(
      () => {
        log("info", "agent.stopped");
        process.exit(0);
      },
      (e) => {
        log("error", "agent.stop_failed", { error: e });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

void main();
