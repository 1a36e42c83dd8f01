import { defineConfig } from "vitest/config";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const NOT_HERE = ["node_modules/**", "e2e/**", ".next/**", ".cache/**", "data/**", "tools/**", "dist/**"];

// Integration files that need only databases and this process: a fresh SQLite file and a fresh
// PostgreSQL database (polyarch_test_<random> on the shared test server) per test, temp dirs from
// mkdtemp, loopback servers on port 0, env set inside their own worker process. They run two files
// at a time. Every *.int.test.ts under DB_ONLY_DIRS is one, except SERIAL_HERE.
const DB_ONLY_DIRS = ["lib/server", "app"];
const DB_ONLY_FILES = ["prisma/client-smoke.int.test.ts", "scripts/migrate.int.test.ts", "scripts/backup.int.test.ts"];
// Files under DB_ONLY_DIRS that must run alone: they start a real agent (QEMU guests, OVS), spawn
// controller processes, run a private PostgreSQL cluster they stop and crash, or time things that a
// second file on a 2-core machine would skew. A new file that does any of that belongs here.
const SERIAL_HERE = [
  "lib/server/consoles/revoke.int.test.ts", // real kernel-boot guest behind the console
  "lib/server/insights/metrics-agent.int.test.ts", // startFrontedAgent: real agent + QEMU
  "lib/server/mobility/evacuate-agents.int.test.ts",
  "lib/server/mobility/ha-agent.int.test.ts",
  "lib/server/mobility/migrate-agents.int.test.ts",
  "lib/server/snapshots/real-agent.int.test.ts",
  "lib/server/vms/provision.int.test.ts",
  "lib/server/vms/disk-full.int.test.ts",
  "lib/server/volumes/volumes-agent.int.test.ts",
  "lib/server/platform/pg-restart.int.test.ts", // private cluster stopped and crashed, outage timings
];
// Integration files that touch no host-wide Open vSwitch and time nothing tightly, but start agents,
// controller processes or builds: in-process agents over (m)TLS, two controllers, the standalone build,
// qemu-img on temp files, and one guest file that mostly waits on its guest (storage: hot-unplug takes
// the guest ~5 s each time; 23 % of the two cores when run alone). Run alone, each used about one core
// of two or less (getrusage: 50–60 %), as did the serial guest files, so they run one at a time in a
// project of their own beside the serial project, after the arm64 agent suite (scripts/test-all.sh).
const BESIDE_PROJECT = "integration-beside";
const BESIDE_FILES = [
  "lib/server/hosts/agent-tls.int.test.ts",
  "lib/server/hosts/agent-trust.int.test.ts",
  "lib/server/hosts/controller-tls.int.test.ts",
  "lib/server/hosts/hostile-agent.int.test.ts",
  "lib/server/platform/multi-controller.int.test.ts", // two controller processes, one SIGKILLed
  "lib/server/vms/placement-processes.int.test.ts", // two controller processes
  "prisma/drift.int.test.ts",
  "docker/dockerfiles.int.test.ts",
  "docker/standalone.int.test.ts",
  "agent/src/api/server.int.test.ts",
  "agent/src/api/storage-routes.int.test.ts",
  "agent/src/api/migration-routes.int.test.ts",
  "agent/src/host/facts.int.test.ts",
  "agent/src/images/image-evict.int.test.ts",
  "agent/src/images/image-cache-full.int.test.ts",
  "agent/src/qemu/qcow2.int.test.ts",
  "agent/src/qemu/img.int.test.ts",
  "agent/src/qemu/probe.int.test.ts",
  "agent/src/vm/storage.int.test.ts", // guests in a temp state dir, no network
];
const DB_ONLY = [
  ...DB_ONLY_DIRS.flatMap((dir) =>
    readdirSync(fileURLToPath(new URL(dir, import.meta.url)), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".int.test.ts"))
      .map((f) => `${dir}/${f.split("\\").join("/")}`),
  ),
  ...DB_ONLY_FILES,
].filter((f) => !SERIAL_HERE.includes(f) && !BESIDE_FILES.includes(f));
// Files whose tests run in a private network + mount namespace (agent/src/testing/private-netns.ts):
// their own OVS, bridges and namespaces, which vanish with it, and little CPU (they wait on ARP,
// DHCP and timers; two short kernel boots in all). One at a time, beside the serial project (scripts/test-all.sh).
const NETNS_PROJECT = "integration-netns"; // agent/src/testing/private-netns.ts runs the inner half in it
const NETNS_FILES = [
  "agent/src/network/dhcp.int.test.ts",
  "agent/src/network/firewall.int.test.ts",
  "agent/src/network/port-security.int.test.ts",
  "agent/src/network/router.int.test.ts",
];
// A path as a glob: app/api/v1/vms/[id]/… and app/(console)/… hold glob syntax.
const literal = (f: string) => f.replace(/[[\](){}*?!+@]/g, "\\$&");

// Five projects. `unit`: pure code and in-process fakes — no QEMU, OVS, database or build; runs in
// parallel in well under a minute (`npm run test:unit`). `integration-db` (DB_ONLY above): real
// SQLite and PostgreSQL, two files at a time. `integration`: the other *.int.test.ts — QEMU guests,
// Open vSwitch, agents with real QEMU — one file at a time on a 2-core machine, after the
// others (sequence.groupOrder; vitest runs a project with fileParallelism: false in a group of its
// own, last). `integration-netns` (NETNS_FILES above) and `integration-beside` (BESIDE_FILES above).
// `npm test` runs all five.
export default defineConfig({
  resolve: {
    alias: {
      "@": fileURLToPath(new URL(".", import.meta.url)),
      // lib/server modules import "server-only", which throws outside React Server Components.
      "server-only": fileURLToPath(new URL("./scripts/server-only-stub.mjs", import.meta.url)),
    },
  },
  test: {
    environment: "node",
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["**/*.test.ts"],
          exclude: [...NOT_HERE, "**/*.int.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration-db",
          include: DB_ONLY.map(literal),
          exclude: NOT_HERE,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: NETNS_PROJECT,
          include: NETNS_FILES,
          exclude: NOT_HERE,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: BESIDE_PROJECT,
          include: BESIDE_FILES,
          exclude: NOT_HERE,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["**/*.int.test.ts"],
          exclude: [...NOT_HERE, ...DB_ONLY.map(literal), ...NETNS_FILES, ...BESIDE_FILES],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
