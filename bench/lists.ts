// How fast the first page of a list comes back with 10,000 VMs, on SQLite and (when available) PostgreSQL.
// Measures the data layer the API route calls (listVms), which is where row count matters.
import { freshPostgres, freshSqlite, testPgUrl } from "../prisma/test-db";
import { resetDbForTests, db } from "../lib/server/platform";
import { resetEnvForTests } from "../lib/server/platform";
import { listVms } from "../lib/server/vms";
import { addUserToProjects } from "../lib/server/projects";
import { vmListQuery } from "../lib/schemas/entities";
import { percentile, printTable, timeRuns } from "./table";

const VMS = Number(process.env.BENCH_VMS ?? 10_000);
const RUNS = 40;
// listVms scopes by project (lib/server/vms/access.ts): an admin sees all; a member only their projects.
const ADMIN = { id: "bench-admin", email: "admin@bench.test", role: "admin" as const };
const MEMBER = { id: "bench-op", email: "op@bench.test", role: "operator" as const };

async function seed() {
  const hosts = await Promise.all(
    ["x86_64", "aarch64"].map((arch, i) =>
      db().host.create({
        data: { name: `bench-host-${i}`, arch, cpuCount: 64, memoryMb: 262144, diskGb: 4000, status: "online" },
      }),
    ),
  );
  const statuses = ["running", "running", "stopped", "error"];
  for (let start = 0; start < VMS; start += 1000) {
    await db().vm.createMany({
      data: Array.from({ length: Math.min(1000, VMS - start) }, (_, j) => {
        const i = start + j;
        const arch = i % 3 === 0 ? "aarch64" : "x86_64";
        return {
          name: `vm-${String(i).padStart(5, "0")}`,
          arch,
          vcpus: 1 + (i % 8),
          memoryMb: 512,
          diskGb: 10,
          status: statuses[i % 4]!,
          hostId: hosts[arch === "x86_64" ? 0 : 1]!.id,
        };
      }),
    });
  }
}

const CASES: [string, Record<string, string>][] = [
  ["first page (name asc)", {}],
  ["arch=aarch64", { arch: "arm64" }],
  ["arch + status filter", { arch: "x86_64", status: "error" }],
  ["sort createdAt desc", { sort: "createdAt", dir: "desc" }],
  ["search q=vm-0999", { q: "vm-0999" }],
  ["last page", { page: String(Math.ceil(VMS / 25)) }],
];

export async function benchLists() {
  const rows: (string | number)[][] = [];
  const providers = ["sqlite", ...(testPgUrl() ? ["postgresql"] : [])] as const;
  for (const provider of providers) {
    const database = provider === "sqlite" ? await freshSqlite() : await freshPostgres();
    if (!database) continue;
    process.env.DATABASE_URL = database.url;
    resetEnvForTests();
    await resetDbForTests();
    const t0 = performance.now();
    await seed();
    const seedMs = performance.now() - t0;
    for (const [name, params] of CASES) {
      const query = vmListQuery.parse(params);
      const times = await timeRuns(RUNS, () => listVms(query, ADMIN));
      rows.push([provider, name, VMS, percentile(times, 50), percentile(times, 99)]);
    }
    // The same first page for an operator who is a member of the default project (the project
    // scope adds a membership lookup and an OR on projectId to both the page and the count).
    await db().user.create({ data: { id: MEMBER.id, name: "op", email: MEMBER.email, role: MEMBER.role } });
    await addUserToProjects(MEMBER.id);
    for (const [name, params] of CASES.slice(0, 2)) {
      const query = vmListQuery.parse(params);
      const times = await timeRuns(RUNS, () => listVms(query, MEMBER));
      rows.push([provider, `${name}, project member`, VMS, percentile(times, 50), percentile(times, 99)]);
    }
    rows.push([provider, `(seeding ${VMS} VMs)`, VMS, seedMs, seedMs]);
    await resetDbForTests();
    await database.drop();
  }
  printTable(`List queries with ${VMS} VMs (${RUNS} runs each; ms)`, ["db", "query", "rows", "p50 ms", "p99 ms"], rows);
}
