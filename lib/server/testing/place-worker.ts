// A separate "controller process" for the multi-process placement test: N parallel creates
// against the database in DATABASE_URL; prints {ok, conflict, other} as JSON.
import { createVm } from "../vms";
import { resetDbForTests } from "../platform";

const [imageId, arch, countArg, prefix] = process.argv.slice(2);
const count = Number(countArg);
// An admin: VMs of an actor in no project go to the default project (lib/server/vms/access.ts).
const who = {
  actor: { id: "worker", email: "w@t.test", name: "W", role: "admin" as const, via: "session" as const },
  clientIp: null,
};
const results = await Promise.allSettled(
  Array.from({ length: count }, (_, i) =>
    createVm(
      {
        name: `${prefix}-${i}`,
        arch: arch as "x86_64" | "aarch64",
        imageId,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        networkId: null,
        allowEmulation: false,
        strategy: "spread",
      },
      who,
      { provision: false },
    ),
  ),
);
const summary = { ok: 0, conflict: 0, other: [] as string[] };
for (const r of results) {
  if (r.status === "fulfilled") summary.ok++;
  else if ((r.reason as { code?: string }).code === "conflict") summary.conflict++;
  else summary.other.push(String((r.reason as Error).message));
}
await resetDbForTests();
console.log(JSON.stringify(summary));
