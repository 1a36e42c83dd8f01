import "server-only";
// What the agent is asked to run: the VM spec (boot, CD drive, volumes, NICs, cloud-init, display)
// built from the DB.
import { AppError } from "../../errors";
import type { VmSpecInput } from "../../schemas/agent-api";
import { effectiveDisplay } from "../../display";
import { db } from "../platform";
import { nicSpecsFor } from "../networks";
import { cloudInitFor } from "../identity";
import { hostnameFromName } from "../../hostname";
import { firewallForVm } from "./firewall-spec";

/**
 * Volume states in which a volume belongs in its VM's spec: attached, or being attached (the PUT
 * that hot-plugs it is the one being built). A detaching volume is left out — that PUT unplugs it.
 */
export const SPEC_VOLUME_STATES = ["in-use", "attaching", "resizing"] as const;

type BootImage = {
  id: string;
  format: string;
  sha256: string | null;
  initrdSha256: string | null;
  cmdline: string | null;
  firmware: string;
};

/** aarch64 `virt` boots disks and ISOs only through UEFI (AAVMF); x86_64 follows the image. */
function firmwareFor(arch: string, image: BootImage): "uefi" | "bios" {
  return arch === "aarch64" || image.firmware === "uefi" ? "uefi" : "bios";
}

export function bootFor(arch: string, image: BootImage, nics: { ip?: string; prefixLength?: number }[]) {
  const sha256 = image.sha256 ?? undefined;
  if (image.format === "kernel")
    return {
      type: "kernel",
      imageId: image.id,
      kernelSha256: sha256,
      initrdSha256: image.initrdSha256 ?? undefined,
      cmdline: kernelCmdline(image.cmdline ?? "", nics),
    } satisfies VmSpecInput["boot"];
  // An ISO installs onto a blank disk of diskGb; the ISO itself rides in the CD drive (spec.cdrom).
  if (image.format === "iso")
    return { type: "iso", imageId: image.id, sha256, firmware: firmwareFor(arch, image) } satisfies VmSpecInput["boot"];
  return {
    type: "disk",
    imageId: image.id,
    sha256,
    format: image.format === "raw" ? "raw" : "qcow2",
    firmware: firmwareFor(arch, image),
  } satisfies VmSpecInput["boot"];
}

export async function specFor(vmId: string): Promise<VmSpecInput> {
  const vm = await db().vm.findUniqueOrThrow({
    where: { id: vmId },
    include: {
      image: true,
      // Guest order (vdb, vdc, …) follows attach order as far as the rows tell it: oldest first.
      volumes: {
        where: { status: { in: [...SPEC_VOLUME_STATES] } },
        select: { id: true },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      },
    },
  });
  const image = vm.image;
  if (!image) throw new AppError({ code: "conflict", message: "The VM's image was deleted." });
  // The CD's image only when there is one (an include would read it for every VM).
  const mediaImage = vm.mediaImageId
    ? await db().image.findUnique({ where: { id: vm.mediaImageId }, select: { id: true, sha256: true } })
    : null;
  const nics = await nicSpecsFor(vm.id);
  const firewall = await firewallForVm(vm.id);
  return {
    // The agent knows a VM by its DNS-safe hostname; the display name may be in any script.
    name: vm.hostname ?? hostnameFromName(vm.name),
    arch: vm.arch as "x86_64" | "aarch64",
    vcpus: vm.vcpus,
    memoryMb: vm.memoryMb,
    diskGb: vm.diskGb,
    boot: bootFor(vm.arch, image, nics),
    // Absent (not null) when empty: the contract treats both alike, and specs of VMs from before
    // issue 13 then compare equal on the agent (an unchanged PUT changes nothing).
    cdrom: mediaImage ? { imageId: mediaImage.id, sha256: mediaImage.sha256 ?? undefined } : undefined,
    volumes: vm.volumes.map((v) => ({ id: v.id })),
    // Every NIC port gets the VM's security-group firewall when it is plugged (null: the VM is in no group).
    nics: nics.map((n) => ({ ...n, firewall })),
    // A VM that is stopped (asked to, or its guest halted) stays stopped when a resize, an attach or a
    // media change re-sends its spec: the agent starts a VM whose spec says running.
    powerState: vm.desiredState === "stopped" || vm.status === "stopped" ? "stopped" : "running",
    allowEmulation: vm.allowEmulation,
    cloudInit: await cloudInitFor(vm),
    display: effectiveDisplay(vm.arch as "x86_64" | "aarch64", vm.display, image),
    // Pinned at create and kept across moves (ADR 037); absent for VMs from before pinning.
    machineType: vm.machineType ?? undefined,
    cpuModel: vm.cpuModel ?? undefined,
    generation: vm.generation,
    fence: vm.ha,
  };
}

/**
 * Kernel-boot images get their NIC addresses on the command line (`polyarch.ip=a/p,b/p`, the
 * convention of our lightweight images) until cloud-init seeds exist; disk images ignore it.
 */
export function kernelCmdline(base: string, nics: { ip?: string; prefixLength?: number }[]): string {
  const addrs = nics.filter((n) => n.ip && n.prefixLength !== undefined).map((n) => `${n.ip}/${n.prefixLength}`);
  const cleaned = base
    .split(/\s+/)
    .filter((t) => t && !t.startsWith("polyarch.ip="))
    .join(" ");
  return addrs.length ? `${cleaned} polyarch.ip=${addrs.join(",")}`.trim() : cleaned;
}
