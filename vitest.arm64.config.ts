// The agent's own unit tests under an arm64 (aarch64) Node.js run through qemu-user
// (scripts/test-agent-arm64.sh). Deliberately import-free: this file is loaded by the arm64
// vitest from .cache/arm64-test/, and importing "vitest/config" from here would resolve the
// repo's x86_64 node_modules (and, through it, vite's x86_64 native binding).
import type { ViteUserConfig } from "vitest/config";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.dirname(fileURLToPath(import.meta.url));
const arm64Modules = process.env.POLYARCH_ARM64_NODE_MODULES;
if (!arm64Modules) throw new Error("POLYARCH_ARM64_NODE_MODULES is not set: run scripts/test-agent-arm64.sh");
if (process.arch !== "arm64") throw new Error(`vitest.arm64.config.ts must run under arm64 Node, not ${process.arch}`);

/**
 * Test files that boot qemu-system-* guests or start Open vSwitch (they need root, fixtures and
 * minutes under TCG; the x86_64 suite runs them). Everything else under agent/src runs on arm64.
 * probe.int.test.ts starts qemu-system-x86_64 to probe KVM.
 */
export const QEMU_OR_OVS_TESTS = [
  "agent/src/agent.int.test.ts", // real OVS + aarch64 guest (and the bundle spawned via process.execPath)
  "agent/src/vm/cloud-init.int.test.ts", // seed ISO read by real guests
  "agent/src/console/console.int.test.ts", // serial console of a real guest
  "agent/src/network/ovs.int.test.ts", // private OVS instance + taps
  "agent/src/network/vlan.int.test.ts", // netns + OVS + two guests
  "agent/src/network/port-security.int.test.ts", // netns + private OVS + raw frames
  "agent/src/network/firewall.int.test.ts", // netns + private OVS + TCP between namespaces (re-execs node)
  "agent/src/network/dhcp.int.test.ts", // netns + private OVS + dnsmasq, real guests (re-execs node)
  "agent/src/network/router.int.test.ts", // netns + private OVS + nftables (re-execs node)
  "agent/src/vm/manager-create.int.test.ts", // VmManager with real guests
  "agent/src/vm/manager-lifecycle.int.test.ts",
  "agent/src/vm/manager-restart.int.test.ts",
  "agent/src/qemu/probe.int.test.ts", // starts qemu-system-x86_64 -accel kvm
  "agent/src/console/vnc.int.test.ts", // VNC of a real x86_64 guest
  "agent/src/vm/storage.int.test.ts", // volumes hot-plugged into real guests, CD media, ISO boot
  // builds the bundle and spawns it with process.execPath (an arm64 binary: no binfmt here); it runs
  // the watchdog under qemu-user itself, from the x86_64 suite
  "agent/src/fence/watchdog.int.test.ts",
  // Same JS driving the same host QEMU as in the x86_64 suite, ~40 s each under qemu-user: left to the x86_64
  // suite to keep `npm test` inside its budget (issue 17). The arm64 agent drives real guests end to end in
  // Playwright (fleet, console, vnc specs: the aarch64 host's agent is arm64 Node under qemu-user).
  "agent/src/vm/display.int.test.ts",
  "agent/src/vm/snapshots.int.test.ts",
  "agent/src/migration/cancel-cold.int.test.ts",
  "agent/src/migration/live.int.test.ts",
];

/**
 * Single tests that cannot pass under qemu-user (not under arm64 as such); they run in the x86_64
 * suite. Shown as skipped in the summary. [file, test name, why]
 */
export const NOT_UNDER_EMULATION: [string, string, string][] = [
  [
    "agent/src/host/metrics.test.ts",
    "samples the host and the test process as if it were a VM",
    "qemu-user fakes /proc/<own pid>/stat: utime and stime read 0",
  ],
];
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const config: ViteUserConfig = {
  root: repo,
  resolve: {
    alias: [
      // One vitest instance: test files live under the repo, whose node_modules holds the x86_64
      // vitest; the runner is the arm64 one. Point every "vitest" import at the runner's copy.
      { find: /^vitest$/, replacement: path.join(arm64Modules, "vitest/dist/index.js") },
      { find: /^@\//, replacement: `${repo}/` },
      { find: /^server-only$/, replacement: path.join(repo, "scripts/server-only-stub.mjs") },
    ],
  },
  test: {
    include: ["agent/src/**/*.test.ts"],
    exclude: QEMU_OR_OVS_TESTS,
    testNamePattern: new RegExp(`^(?!.*(?:${NOT_UNDER_EMULATION.map(([, name]) => escapeRe(name)).join("|")})).*$`),
    environment: "node",
    // No binfmt_misc here: a forked child would exec the arm64 node binary without qemu-user.
    // worker_threads stay inside the one emulated process.
    pool: "threads",
    maxWorkers: 1,
    fileParallelism: false,
    // Emulation makes everything ~5-10x slower; the tests' own timeouts are about correctness.
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
};

export default config;
