import "server-only";
// What the agent is asked to run: the VM spec (boot, NICs, cloud-init, display) built from the DB.
import { AppError } from "../../errors";
import type { VmSpecInput } from "../../schemas/agent-api";
import { effectiveDisplay } from "../../display";
import { db } from "../platform";
import { nicSpecsFor } from "../networks";
import { cloudInitFor } from "../identity";

export async function specFor(vmId: string): Promise<VmSpecInput> {
  const vm = await db().vm.findUniqueOrThrow({ where: { id: vmId }, include: { image: true } });
  const image = vm.image;
  if (!image) throw new AppError({ code: "conflict", message: "The VM's image was deleted." });
  const nics = await nicSpecsFor(vm.id);
  const boot: VmSpecInput["boot"] =
    image.format === "kernel"
      ? {
          type: "kernel",
          imageId: image.id,
          kernelSha256: image.sha256 ?? undefined,
          initrdSha256: image.initrdSha256 ?? undefined,
          cmdline: kernelCmdline(image.cmdline ?? "", nics),
        }
      : {
          type: "disk",
          imageId: image.id,
          sha256: image.sha256 ?? undefined,
          format: image.format === "raw" ? "raw" : "qcow2",
          firmware: image.firmware === "uefi" ? "uefi" : "bios",
        };
  return {
    name: vm.name,
    arch: vm.arch as "x86_64" | "aarch64",
    vcpus: vm.vcpus,
    memoryMb: vm.memoryMb,
    diskGb: vm.diskGb,
    boot,
    nics,
    powerState: vm.desiredState === "stopped" ? "stopped" : "running",
    allowEmulation: vm.allowEmulation,
    cloudInit: await cloudInitFor(vm),
    display: effectiveDisplay(vm.arch as "x86_64" | "aarch64", vm.display, image),
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
