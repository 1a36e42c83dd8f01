// Live migration with real QEMU under TCG, per arch (ADR 035): two VmManagers on two state dirs,
// each behind its own agent API server, stand for two hosts; the test drives them like the
// controller. A booted guest with a data volume counts on its serial console while its root disk
// and volume are mirrored over NBD and its memory migrated; on the target it keeps counting from
// where it was (no second boot), the disks hold what the guest wrote, and the source has no QEMU,
// no VM directory and no volume file left.
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ARCHES, qemuBinaryFor } from "../../../lib/arch";
import { VM_PUT_STREAM_TYPE, volumeSerial, vmPutStreamEndSchema, vmStatusSchema } from "../../../lib/schemas/agent-api";
import {
  migrationProgressEventSchema,
  migrationResultSchema,
  migrationIncomingSchema,
  migrationTargetSchema,
} from "../../../lib/schemas/agent-migration";
import { QmpClient } from "../qemu";
import { binaries, findFixture, hasQemuImg, kernelSpec, vmRig, waitFor } from "../testing/vm-rig";
import {
  bootWithVolume,
  diskHead,
  GiB,
  lastCount,
  makePair,
  qemusIn,
  serialLogIn,
  serveOverHttp,
  startCounter,
  vmDirExists,
  volumeFile,
  writeDiskMarks,
} from "./test-rig";
import { type BlockJobInfo, startMirrors } from "./qmp-steps";

const rig = vmRig();

for (const arch of ARCHES) {
  const fx = findFixture(arch);
  const missing = !binaries[arch]
    ? `${qemuBinaryFor(arch)} not installed`
    : !hasQemuImg
      ? "qemu-img not installed"
      : !fx
        ? `no boot fixture for ${arch}`
        : null;

  describe.skipIf(missing !== null)(
    `live migration, ${arch} guest under TCG${missing ? ` (skipped: ${missing})` : ""}`,
    () => {
      it("moves a running guest with its volume; it keeps counting on the target, nothing stays on the source", async () => {
        const pair = makePair(rig);
        const id = `mig-live-${arch.replace("_", "-")}`;
        const volId = `mv-${arch.replace("_", "-")}`;
        const spec = await bootWithVolume(pair, arch, id, volId);
        await writeDiskMarks(pair.srcDir, id, volumeSerial(volId), `ROOTMARK-${arch}`, `VOLMARK-${arch}`);
        await startCounter(pair.srcDir, id);

        // Through the agent API of both "hosts", as the controller drives it.
        const [srcApi, dstApi] = [await serveOverHttp(pair.src), await serveOverHttp(pair.dst)];
        let countAtSwitch = 0;
        try {
          const inc = await dstApi.post(`/vms/${id}/migration/incoming`, {
            spec: { ...spec, generation: 2 },
            disks: [
              { name: "root", sizeBytes: spec.diskGb * GiB },
              { name: volId, sizeBytes: GiB },
            ],
          });
          expect(inc.status, inc.text).toBe(201);
          const target = migrationTargetSchema.parse(JSON.parse(inc.text));
          expect(target.migrationUri).toMatch(/^tcp:127\.0\.0\.1:\d+$/);
          expect(target.nbd.exports.map((e) => e.disk).sort()).toEqual([volId, "root"].sort());
          expect((await pair.dst.get(id)).migration).toEqual({ role: "incoming", phase: "receiving" });

          const out = await srcApi.post(`/vms/${id}/migration/outgoing`, { target }, VM_PUT_STREAM_TYPE);
          expect(out.status).toBe(200);
          expect(out.type).toContain(VM_PUT_STREAM_TYPE);
          const lines = out.text
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as unknown);
          const events = lines.slice(0, -1).map((l) => migrationProgressEventSchema.parse(l));
          const end = vmPutStreamEndSchema.parse(lines.at(-1));
          if (end.type !== "result") throw new Error(`outgoing failed: ${out.text.slice(-500)}`);
          const result = migrationResultSchema.parse(end.body);
          countAtSwitch = lastCount(serialLogIn(pair.srcDir, id));
          expect(result.diskBytes).toBe(2 * GiB);
          expect(result.ramBytes).toBeGreaterThan(0);
          expect(result.downtimeMs).toBeGreaterThanOrEqual(0);
          // TCG: the guest is paused for the memory copy (ADR 064), so the pause covers the whole copy.
          expect(result.memoryCopy).toBe("paused");
          expect(events.some((e) => e.phase === "mirror")).toBe(true);
          expect(events.at(-1)?.phase).toBe("completing");
          expect((await pair.src.get(id)).powerState).toBe("paused");

          const done = await dstApi.post(`/vms/${id}/migration/complete`);
          expect(done.status, done.text).toBe(200);
          const st = vmStatusSchema.parse(JSON.parse(done.text));
          expect(st.powerState).toBe("running");
          expect(st.generation).toBe(2);
          expect(st.migration).toBeUndefined();
          const rel = await srcApi.post(`/vms/${id}/migration/release`);
          expect(JSON.parse(rel.text)).toEqual({ id, released: true });
        } finally {
          await srcApi.close();
          await dstApi.close();
        }

        // The same guest goes on: counting past the source's last number, never booting again.
        await waitFor(
          "the counter on the target",
          () => lastCount(serialLogIn(pair.dstDir, id)) > countAtSwitch + 2,
          120_000,
          200,
        );
        expect(serialLogIn(pair.dstDir, id)).not.toContain(fx!.marker);
        // ...and starts where the source stopped, not at 1.
        const onTarget = [...serialLogIn(pair.dstDir, id).matchAll(/PA-COUNT (\d+)/g)].map((m) => Number(m[1]));
        expect(Math.min(...onTarget)).toBeGreaterThanOrEqual(Math.max(2, countAtSwitch - 1));
        // Both disks hold what the guest wrote before the move.
        expect(diskHead(path.join(pair.dstDir, "vms", id, "disk.qcow2"))).toContain(`ROOTMARK-${arch}`);
        expect(diskHead(volumeFile(pair.dstDir, volId))).toContain(`VOLMARK-${arch}`);
        // Nothing left on the source.
        expect(qemusIn(pair.srcDir)).toEqual([]);
        expect(vmDirExists(pair.srcDir, id)).toBe(false);
        expect(existsSync(volumeFile(pair.srcDir, volId))).toBe(false);
        await expect(pair.src.get(id)).rejects.toMatchObject({ code: "not_found" });
        // The target owns it for good: its spec is saved with the new generation.
        expect((await pair.dst.getSpec(id))?.generation).toBe(2);
        expect(existsSync(path.join(pair.dstDir, "vms", id, "spec.json"))).toBe(true);
      }, 600_000);
    },
  );
}

// An agent that dies during a move and comes back has forgotten it, but its QEMU has not: the guest
// sits paused (a TCG memory copy pauses it first, ADR 064) with the disk mirrors still attached.
// The controller's cancel must still resume it there and drop the mirrors.
const x86 = findFixture("x86_64");
describe.skipIf(!binaries.x86_64 || !hasQemuImg || !x86)("an agent restarted during a move", () => {
  it("has forgotten the move; a cancel still resumes the paused guest here and drops the mirrors", async () => {
    const pair = makePair(rig);
    const id = "mig-restarted";
    const spec = kernelSpec("x86_64", { name: id });
    await pair.src.apply(id, spec);
    await waitFor("x86_64 boot marker", () => serialLogIn(pair.srcDir, id).includes(x86!.marker), 180_000, 200);
    await startCounter(pair.srcDir, id);
    const target = await pair.dst.migrations.incoming(
      id,
      migrationIncomingSchema.parse({
        spec: { ...spec, generation: 2 },
        disks: [{ name: "root", sizeBytes: spec.diskGb * GiB }],
      }),
      "127.0.0.1",
    );

    // The source agent goes away; what its move had done so far stays in QEMU: the mirror, then the pause.
    await pair.src.close();
    const qmpSock = path.join(pair.srcDir, "vms", id, "qmp.sock");
    const q = await QmpClient.connect(qmpSock);
    try {
      await startMirrors(q, target.nbd, [{ disk: "root", node: "disk0" }], 0);
      await waitFor(
        "the mirror to be ready",
        async () => (await q.execute<BlockJobInfo[]>("query-block-jobs"))[0]?.ready,
        60_000,
        100,
      );
      await q.stop();
    } finally {
      await q.close();
    }

    const again = rig.makeManager();
    const before = await again.get(id);
    expect([before.powerState, before.migration]).toEqual(["paused", undefined]);
    const countBefore = lastCount(serialLogIn(pair.srcDir, id));
    await again.migrations.cancel(id);
    expect((await again.get(id)).powerState).toBe("running");
    await waitFor("the counter here", () => lastCount(serialLogIn(pair.srcDir, id)) > countBefore + 1, 60_000, 200);
    // A guest that is not paused is left alone: cancel stays idempotent.
    await again.migrations.cancel(id);
    expect((await again.get(id)).powerState).toBe("running");
    // QEMU serves one QMP client: detach the manager, then ask QEMU itself what jobs are left.
    await again.close();
    const after = await QmpClient.connect(qmpSock);
    try {
      expect(await after.execute<BlockJobInfo[]>("query-block-jobs")).toEqual([]);
      expect((await after.queryStatus()).status).toBe("running");
    } finally {
      await after.close();
    }
    await pair.dst.migrations.abort(id);
    expect(vmDirExists(pair.dstDir, id)).toBe(false);
  }, 300_000);
});
