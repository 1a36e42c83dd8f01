import "server-only";
// POST /api/v1/vms/:id/capture (issue 13, ADR 033): the VM's disk — of a stopped VM, or one of its
// snapshots, running or not — becomes an image of the VM's arch in the VM's project, owned by the
// caller. The agent streams a flattened qcow2; lib/server/images stores and validates it like an
// upload (ingestCapturedDisk), so nothing of a refused capture remains.
import type { Arch } from "../../arch";
import { AppError } from "../../errors";
import type { CaptureRequest } from "../../schemas/snapshots";
import { agentClient } from "../hosts";
import { requirePermission } from "../identity";
import { receiveCapturedDisk, validateCapturedDisk, type StoredImageDto } from "../images";
import { db, type Caller } from "../platform";
import { requireVmAccess } from "../vms";
import { livePowerOf, snapshotOf } from "./snapshots";
import { runVmTask } from "./task-run";

export const CAPTURE_STEPS = ["export disk", "validate image"] as const;

const conflict = (message: string) => new AppError({ code: "conflict", message });

export async function captureVm(vmId: string, input: CaptureRequest, who: Caller): Promise<StoredImageDto> {
  const attempt = { action: "vm.capture", clientIp: who.clientIp };
  await requireVmAccess(who.actor, vmId, "vm:operate", attempt);
  await requirePermission(who.actor, "image:manage", { ...attempt, targetType: "vm", targetId: vmId });
  const vm = await db().vm.findUnique({ where: { id: vmId }, include: { host: true } });
  if (!vm) throw new AppError({ code: "not_found", message: `VM ${vmId} does not exist.` });
  if (!vm.host) throw conflict("This VM is not placed on a host; it has no disk to capture.");
  const host = vm.host;
  if (input.snapshotId) {
    const snap = await snapshotOf(vmId, input.snapshotId);
    if (snap.status !== "ready") throw conflict(`Snapshot "${snap.name}" is ${snap.status}; capture a ready snapshot.`);
  } else {
    const power = await livePowerOf({ ...vm, host }, "capture");
    if (power !== "stopped")
      throw conflict(
        `Capture reads a consistent disk: stop the VM first (it is ${power}), or capture one of its snapshots.`,
      );
  }
  return runVmTask(
    {
      kind: "vm.capture",
      vm,
      who,
      steps: CAPTURE_STEPS,
      details: { name: input.name, family: input.family ?? null, snapshotId: input.snapshotId ?? null },
    },
    async (step) => {
      const received = await step(
        "export disk",
        () =>
          receiveCapturedDisk(
            { name: input.name, family: input.family, arch: vm.arch as Arch, projectId: vm.projectId },
            who,
            async (write) => {
              await agentClient.exportDisk(host, vm.id, { snapshotId: input.snapshotId }, write);
            },
          ),
        (r) => `${r.disk.bytes} bytes from ${host.name}${input.snapshotId ? ` (snapshot ${input.snapshotId})` : ""}`,
      );
      const image = await step(
        "validate image",
        () => validateCapturedDisk(received, who),
        (i) => `image ${i.name} (${i.arch}, ${i.format}, ${i.minDiskGb} GiB)`,
      );
      return { result: image, details: { imageId: image.id, sizeBytes: image.sizeBytes } };
    },
  );
}
