// The evacuation loop on its own (the migrations are the orchestrator's, tested with real agents in
// migrate*.int.test.ts; here a stand-in mover moves rows): one VM at a time, running ones live and
// stopped ones cold, each step's message the outcome or the reason it stays, progress per VM, the
// task succeeds only when the host is empty, and leaving maintenance stops it after the current VM.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import type { MigrationPreview } from "../../schemas/migration";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost } from "../testing/rows";
import { AppError } from "../../errors";
import { db } from "../platform";
import { enterMaintenance } from "./maintenance";
import type { Mover } from "./evacuate";

const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

describe.each(PROVIDERS)("evacuation on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  async function fleet() {
    const src = await insertTestHost({ name: "src" });
    const dst = await insertTestHost({ name: "dst" });
    const vm = (name: string, status: string) =>
      db().vm.create({
        data: { name, arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, hostId: src.id, status, powerState: "x" },
      });
    return {
      src,
      dst,
      a: await vm("a-run", "running"),
      b: await vm("b-stopped", "stopped"),
      c: await vm("c-pinned", "running"),
    };
  }

  /** Moves a VM's row to `to` unless its name says it cannot move. Records the calls, checks one at a time. */
  function mover(to: string, calls: string[], during?: (vmId: string) => Promise<void>): Mover {
    let inFlight = 0;
    const preview = async (vmId: string): Promise<MigrationPreview> => {
      const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId } });
      const pinned = vm.name.includes("pinned");
      return {
        vmId,
        arch: "x86_64",
        migrationMode: vm.status === "stopped" ? "cold" : "live",
        machineType: null,
        cpuModel: null,
        blocked: null,
        recommendedHostId: pinned ? null : to,
        hosts: [
          {
            id: to,
            name: "dst",
            arch: "x86_64",
            status: "online",
            ok: !pinned,
            current: false,
            mode: "native",
            reasons: pinned ? ["machine type pc-q35-9.0 not in dst's QEMU 7.2"] : [],
            warnings: [],
          },
        ],
      };
    };
    return {
      preview,
      async start(vmId, req, ctx) {
        if (inFlight) throw new Error("two migrations at once");
        inFlight++;
        calls.push(`${vmId}:${req.live ? "live" : "cold"}:${ctx.skipAccess}`);
        await during?.(vmId);
        const done = (async () => {
          await db().vm.update({ where: { id: vmId }, data: { hostId: to } });
          inFlight--;
          return { ok: true };
        })();
        return { taskId: "t", done };
      },
    };
  }

  it("moves every VM it can, one at a time, and ends failed naming the one that stayed", async () => {
    const { src, dst, a, b } = await fleet();
    const calls: string[] = [];
    const out = await enterMaintenance(src.id, { evacuate: true }, admin, { mover: mover(dst.id, calls), wait: true });
    expect(calls).toEqual([`${a.id}:live:true`, `${b.id}:cold:true`]);
    const task = await db().task.findUniqueOrThrow({
      where: { id: out.task!.id },
      include: { steps: { orderBy: { position: "asc" } } },
    });
    expect(task.steps.map((s) => [s.name, s.status, s.message])).toEqual([
      ["a-run", "succeeded", "moved live to dst"],
      ["b-stopped", "succeeded", "moved cold to dst"],
      ["c-pinned", "failed", "no host can take it: dst: machine type pc-q35-9.0 not in dst's QEMU 7.2"],
    ]);
    expect([task.status, task.progress, task.error]).toEqual(["failed", 100, "1 VM(s) stayed on the host: c-pinned"]);
  });

  it("succeeds when the host ends empty; a migration that refuses or fails is that VM's reason", async () => {
    const { src, dst, c } = await fleet();
    await db().vm.delete({ where: { id: c.id } });
    const calls: string[] = [];
    const m = mover(dst.id, calls);
    const out = await enterMaintenance(src.id, { evacuate: true }, admin, { mover: m, wait: true });
    expect((await db().task.findUniqueOrThrow({ where: { id: out.task!.id } })).status).toBe("succeeded");
    expect(await db().vm.count({ where: { hostId: src.id } })).toBe(0);
    // Back on src; the orchestrator refuses one and fails the other.
    await db().vm.updateMany({ data: { hostId: src.id } });
    const refusing: Mover = {
      preview: m.preview,
      start: async (vmId) => {
        const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId } });
        if (vm.status === "running") throw new AppError({ code: "conflict", message: "the target refused: no room" });
        return { taskId: "t", done: Promise.resolve({ ok: false, error: "checksum mismatch on dst" }) };
      },
    };
    const again = await enterMaintenance(src.id, { evacuate: true }, admin, { mover: refusing, wait: true });
    const steps = await db().taskStep.findMany({ where: { taskId: again.task!.id }, orderBy: { position: "asc" } });
    expect(steps.map((s) => s.message)).toEqual(["the target refused: no room", "checksum mismatch on dst"]);
  });

  it("leaving maintenance stops the evacuation after the VM in flight", async () => {
    const { src, dst } = await fleet();
    const calls: string[] = [];
    const exit = async () => void (await db().host.update({ where: { id: src.id }, data: { adminState: "enabled" } }));
    const out = await enterMaintenance(src.id, { evacuate: true }, admin, {
      mover: mover(dst.id, calls, exit),
      wait: true,
    });
    expect(calls.length).toBe(1);
    const steps = await db().taskStep.findMany({ where: { taskId: out.task!.id }, orderBy: { position: "asc" } });
    expect(steps.map((s) => [s.status, s.message])).toEqual([
      ["succeeded", "moved live to dst"],
      ["skipped", "maintenance ended before it was moved"],
      ["skipped", "maintenance ended before it was moved"],
    ]);
    expect((await db().task.findUniqueOrThrow({ where: { id: out.task!.id } })).status).toBe("failed");
  });
});
