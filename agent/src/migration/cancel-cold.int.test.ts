// Failure paths and the cold move with real QEMU under TCG, per arch (ADR 035). A move is refused
// while a snapshot is taken or exists. A cancel in the middle of the disk mirror, and a cancel
// after everything was sent (the target never took over), both leave the guest running and
// counting on the source and, after abort, nothing on the target (also when the target's agent
// restarted before the abort). A cold move copies the stopped VM's disks: a body with one
// corrupted byte or one missing is refused (400) and nothing is kept; the intact copy is verified,
// adopted by the target's create, and the source is released.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ARCHES, qemuBinaryFor } from "../../../lib/arch";
import { volumeSerial } from "../../../lib/schemas/agent-api";
import { migrationIncomingSchema, migrationOutgoingSchema } from "../../../lib/schemas/agent-migration";
import { binaries, findFixture, hasQemuImg, vmRig, waitFor } from "../testing/vm-rig";
import type { VmManager } from "../vm";
import {
  bootWithVolume,
  diskHead,
  GiB,
  lastCount,
  makePair,
  qemusIn,
  serialLogIn,
  startCounter,
  vmDirExists,
  volumeFile,
  writeDiskMarks,
} from "./test-rig";

const rig = vmRig();

async function stillCountingOn(dir: string, id: string, mgr: VmManager): Promise<void> {
  expect((await mgr.get(id)).powerState).toBe("running");
  const n = lastCount(serialLogIn(dir, id));
  await waitFor("the counter on the source", () => lastCount(serialLogIn(dir, id)) > n + 1, 60_000, 200);
}

for (const arch of ARCHES) {
  const fx = findFixture(arch);
  const missing = !binaries[arch]
    ? `${qemuBinaryFor(arch)} not installed`
    : !hasQemuImg
      ? "no qemu-img"
      : !fx
        ? `no boot fixture for ${arch}`
        : null;
  const tag = arch.replace("_", "-");

  describe.skipIf(missing !== null)(
    `cancel and cold migration, ${arch} guest under TCG${missing ? ` (skipped: ${missing})` : ""}`,
    () => {
      it("cancel mid-mirror and cancel after the memory was sent keep the guest on the source; cold move verifies", async () => {
        const pair = makePair(rig);
        const id = `mig-cancel-${tag}`;
        const volId = `mv-cancel-${tag}`;
        const spec = await bootWithVolume(pair, arch, id, volId);
        await writeDiskMarks(pair.srcDir, id, volumeSerial(volId), "ROOTMARK-cold", "VOLMARK-cold");
        await startCounter(pair.srcDir, id);
        const incoming = migrationIncomingSchema.parse({
          spec: { ...spec, generation: 2 },
          disks: [
            { name: "root", sizeBytes: GiB },
            { name: volId, sizeBytes: GiB },
          ],
        });
        const targetClean = () => {
          expect(qemusIn(pair.dstDir)).toEqual([]);
          expect(vmDirExists(pair.dstDir, id)).toBe(false);
          expect(existsSync(volumeFile(pair.dstDir, volId))).toBe(false);
        };

        // 0. Refusals before anything moves: a snapshot being taken, then the snapshot that exists.
        const nowhere = migrationOutgoingSchema.parse({
          target: {
            migrationUri: "tcp:127.0.0.1:9",
            nbd: { host: "127.0.0.1", port: 9, exports: [{ disk: "root", name: "root" }] },
          },
        });
        const snap = pair.src.createSnapshot(id, { id: "s1", memory: false });
        await expect(pair.src.migrations.outgoing(id, nowhere, () => {})).rejects.toMatchObject({ code: "conflict" });
        await snap;
        await expect(pair.src.migrations.outgoing(id, nowhere, () => {})).rejects.toMatchObject({
          code: "conflict",
          message: expect.stringContaining("delete its 1 snapshots first"),
        });
        await pair.src.deleteSnapshot(id, "s1");
        expect((await pair.src.get(id)).migration).toBeUndefined();

        // 1. Cancel while the mirror crawls at 1 MiB/s.
        let target = await pair.dst.migrations.incoming(id, incoming, "127.0.0.1");
        let sawMirror!: () => void;
        const mirroring = new Promise<void>((r) => (sawMirror = r));
        const slow = pair.src.migrations.outgoing(
          id,
          migrationOutgoingSchema.parse({ target, bandwidth: 1024 * 1024 }),
          (e) => e.phase === "mirror" && sawMirror(),
        );
        const outcome = slow.then(
          () => "completed",
          (err: { code?: string; message?: string }) => `${err.code}: ${err.message}`,
        );
        await mirroring;
        // A second move of the same VM is refused while this one runs.
        await expect(
          pair.src.migrations.outgoing(id, migrationOutgoingSchema.parse({ target }), () => {}),
        ).rejects.toMatchObject({
          code: "conflict",
        });
        await pair.src.migrations.cancel(id);
        expect(await outcome).toMatch(/^conflict: .*cancelled/);
        await pair.dst.migrations.abort(id);
        await pair.dst.migrations.abort(id); // idempotent
        targetClean();
        expect((await pair.src.get(id)).migration).toBeUndefined();
        await stillCountingOn(pair.srcDir, id, pair.src);

        // 2. Everything sent, the source paused: the target never completes; cancel resumes the source.
        target = await pair.dst.migrations.incoming(id, incoming, "127.0.0.1");
        await pair.src.migrations.outgoing(id, migrationOutgoingSchema.parse({ target }), () => {});
        expect((await pair.src.get(id)).powerState).toBe("paused");
        await pair.src.migrations.cancel(id);
        // The target's agent restarts before the abort: the new one still finds and removes that QEMU.
        await pair.dst.close();
        expect(qemusIn(pair.dstDir)).toHaveLength(1);
        pair.dst = rig.makeManager({ stateDir: pair.dstDir });
        await pair.dst.migrations.abort(id);
        targetClean();
        await stillCountingOn(pair.srcDir, id, pair.src);

        // 3. Cold: the stopped VM's disks travel as files with their SHA-256.
        await expect(pair.src.migrations.diskDownload(id, "root")).rejects.toMatchObject({ code: "conflict" });
        await pair.src.action(id, "poweroff");
        const root = await pair.src.migrations.diskDownload(id, "root");
        const vol = await pair.src.migrations.diskDownload(id, volId);
        const incomingDir = path.join(pair.dstDir, "incoming");
        const kept = () => (existsSync(incomingDir) ? readdirSync(incomingDir, { recursive: true }) : []);
        const bad = Buffer.from(readFileSync(root.path));
        bad[bad.length >> 1]! ^= 0xff;
        const declared = { sha256: root.sha256, sizeBytes: root.sizeBytes };
        await expect(pair.dst.migrations.diskUpload(id, "root", Readable.from([bad]), declared)).rejects.toMatchObject({
          httpStatus: 400,
          message: expect.stringContaining("SHA-256"),
        });
        const short = bad.subarray(0, bad.length - 1);
        await expect(
          pair.dst.migrations.diskUpload(id, "root", Readable.from([short]), declared),
        ).rejects.toMatchObject({
          httpStatus: 400,
        });
        expect(kept()).toEqual([]);
        await pair.dst.migrations.diskUpload(id, "root", Readable.from([readFileSync(root.path)]), declared);
        await pair.dst.migrations.diskUpload(id, volId, Readable.from([readFileSync(vol.path)]), {
          sha256: vol.sha256,
          sizeBytes: vol.sizeBytes,
        });
        await expect(
          pair.dst.migrations.diskUpload(id, volId, Readable.from([readFileSync(vol.path)]), {
            sha256: vol.sha256,
            sizeBytes: vol.sizeBytes,
          }),
        ).rejects.toMatchObject({ code: "conflict" });
        await root.cleanup();
        const created = await pair.dst.apply(id, { ...spec, powerState: "stopped", generation: 2 });
        expect(created.created).toBe(true);
        expect(diskHead(path.join(pair.dstDir, "vms", id, "disk.qcow2"))).toContain("ROOTMARK-cold");
        expect(diskHead(volumeFile(pair.dstDir, volId))).toContain("VOLMARK-cold");
        expect(kept()).toEqual([]);
        await pair.src.migrations.release(id);
        await pair.src.migrations.release(id); // idempotent
        expect(vmDirExists(pair.srcDir, id)).toBe(false);
        expect(existsSync(volumeFile(pair.srcDir, volId))).toBe(false);
        expect(qemusIn(pair.srcDir)).toEqual([]);
      }, 600_000);
    },
  );
}
