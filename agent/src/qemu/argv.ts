// Pure builders for QEMU command lines, one table of per-arch settings (DESIGN.md,
// "Architecture-specific QEMU settings"). Output is always an argv array: nothing here is ever
// joined into a shell string.
import type { Arch } from "../../../lib/arch";
import { displayFits, type Display } from "../../../lib/display";

export type Accel = "kvm" | "tcg";

/** KVM only when the host has /dev/kvm and the guest is the host's own arch; else TCG (emulated). */
/**
 * "Emulated" means a foreign guest architecture (ADR 003). The host's own arch without KVM still
 * runs natively-built guests, only slower (TCG): it is reported as accel "tcg", not as emulated.
 */
export function chooseAccel(guestArch: Arch, hostArch: Arch, kvm: boolean): { accel: Accel; emulated: boolean } {
  if (kvm && guestArch === hostArch) return { accel: "kvm", emulated: false };
  return { accel: "tcg", emulated: guestArch !== hostArch };
}

export interface QemuNic {
  id: string;
  mac: string;
  /** host tap device QEMU opens (created and attached to OVS by the network driver) */
  tap: string;
}

/** UEFI firmware: read-only code + this VM's own writable copy of the vars store. */
export interface PflashFirmware {
  code: string;
  vars: string;
}

export type QemuBoot =
  | { type: "disk"; firmware: "bios" | "uefi"; pflash?: PflashFirmware }
  | { type: "kernel"; kernel: string; initrd?: string; cmdline: string }
  /** install from the CD: the medium is QemuLaunchConfig.cdrom, the disk is blank; CD first in the boot order */
  | { type: "iso"; firmware: "bios" | "uefi"; pflash?: PflashFirmware };

/** A data volume attached at start, on its reserved PCIe root port (ADR 030). */
export interface QemuVolume {
  /** root port index, 0..VOLUME_PORTS-1 (persisted per VM so the guest's PCI path stays put) */
  port: number;
  /** the volume's qcow2 file */
  path: string;
  /** virtio-blk serial: the guest sees /dev/disk/by-id/virtio-<serial> */
  serial: string;
}

export interface QemuLaunchConfig {
  /** VM id: used for the QEMU process name only */
  id: string;
  name: string;
  guestArch: Arch;
  accel: Accel;
  vcpus: number;
  memoryMb: number;
  /** the VM's qcow2 overlay (always qcow2, whatever the base image's format) */
  disk?: string;
  boot: QemuBoot;
  nics: QemuNic[];
  qmpSocket: string;
  serialSocket: string;
  serialLog: string;
  pidFile: string;
  /**
   * Graphical display device (lib/display.ts). Absent: x86_64 VGA, aarch64 virtio-gpu (what this
   * builder always did). "none" gives the guest no GPU and no VNC at all.
   */
  display?: Display;
  /** VNC on a unix socket (for a web console); otherwise no display backend */
  vncSocket?: string;
  /** seccomp sandbox; on by default, switchable for debugging */
  sandbox?: boolean;
  /** cloud-init NoCloud seed ISO (agent/src/vm/cloud-init.ts), attached as a read-only CD-ROM */
  seedIso?: string;
  /** medium (ISO file) in the VM's CD drive cd0; absent/null = the drive is empty */
  cdrom?: string | null;
  /** data volumes attached at start (each on its own reserved root port) */
  volumes?: QemuVolume[];
  /** pinned machine type (pc-q35-7.2, virt-7.2; spec.machineType); absent = the arch's alias, q35 / virt */
  machineType?: string;
  /** pinned guest CPU model (spec.cpuModel); absent = kvm: host, tcg: max (x86_64) / cortex-a57 (aarch64) */
  cpuModel?: string;
  /** migration target: paused (-S) and waiting for migrate-incoming (ADR 035) */
  incoming?: boolean;
}

// ---- CD drive and hot-plug slots (ADR 030), shared with the QMP code in agent/src/vm ----------

/** qdev id of the VM's one CD drive: blockdev-change-medium / eject address it by this id. */
export const CDROM_ID = "cd0";
/** PCIe root ports reserved at start for data volumes: q35 and virt cannot hot-plug on pcie.0. */
export const VOLUME_PORTS = 8;
/**
 * The root ports are the 8 functions of one slot (libvirt does the same), far above the slots
 * QEMU assigns automatically from 1 upwards, so the root disk, NICs and display keep their addresses.
 */
const ROOT_PORT_SLOT = 0x1c;
/** virtio-blk's serial is at most 20 bytes (VIRTIO_BLK_ID_BYTES). */
export const VOLUME_SERIAL_MAX = 20;

export const rootPortId = (port: number): string => `rp${port}`;
/** qdev id and block node name of the volume on root port `port` (node names are at most 31 chars: never the volume id) */
export const volumeNodeName = (port: number): string => `vol${port}`;

function assertPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port >= VOLUME_PORTS)
    throw new Error(`volume root port must be 0..${VOLUME_PORTS - 1}, not ${port}`);
}

/** blockdev-add arguments of a volume (the same node QEMU gets at start in -blockdev). */
export function volumeBlockdev(port: number, file: string): Record<string, unknown> {
  assertPort(port);
  assertSafeValue("volume path", file);
  return {
    driver: "qcow2",
    "node-name": volumeNodeName(port),
    discard: "unmap",
    file: { driver: "file", filename: file, cache: { direct: false }, discard: "unmap" },
  };
}

/** device_add arguments of a volume (the same device QEMU gets at start in -device). */
export function volumeDevice(port: number, serial: string): Record<string, string> {
  assertPort(port);
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(serial)) throw new Error(`invalid volume serial ${JSON.stringify(serial)}`);
  return {
    driver: "virtio-blk-pci",
    id: volumeNodeName(port),
    drive: volumeNodeName(port),
    bus: rootPortId(port),
    serial,
  };
}

/** QEMU's option syntax splits on ',' — a literal comma in a value is written ',,'. */
export function escapeOptValue(value: string): string {
  return value.replace(/,/g, ",,");
}

/** Values QEMU would misparse or that must never reach it (newlines, NUL). */
function assertSafeValue(what: string, value: string): void {
  if (value.length === 0) throw new Error(`${what} is empty`);
  if (/[\0\n\r]/.test(value)) throw new Error(`${what} contains a control character`);
}

/** -kernel/-initrd take raw paths, but some boards read ',' in -initrd as a list separator. */
function assertPlainPath(what: string, value: string): void {
  assertSafeValue(what, value);
  if (value.includes(",")) throw new Error(`${what} may not contain ','`);
}

const TAP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/; // IFNAMSIZ - 1 = 15
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** Kernel console per arch: 16550 on x86, PL011 on the virt board. */
export function serialConsoleFor(arch: Arch): string {
  return arch === "x86_64" ? "ttyS0" : "ttyAMA0";
}

/** Appends console=<tty> unless the image's cmdline already picks a console. */
export function kernelCmdline(arch: Arch, cmdline: string): string {
  const trimmed = cmdline.trim();
  if (/(^|\s)console=/.test(trimmed)) return trimmed;
  return [`console=${serialConsoleFor(arch)}`, trimmed].filter(Boolean).join(" ");
}

/** The unversioned machine type per arch: what QEMU resolves to its newest version (q35 -> pc-q35-7.2). */
export const MACHINE_ALIAS: Record<Arch, string> = { x86_64: "q35", aarch64: "virt" };

/**
 * Whether a machine type is of the board family this builder writes command lines for: the CD
 * drives, root ports and devices below assume q35 (x86_64) and virt (aarch64).
 */
export function machineFamilyFits(arch: Arch, machineType: string): boolean {
  return arch === "x86_64"
    ? /^(q35|pc-q35-[0-9][0-9.]*)$/.test(machineType)
    : /^virt(-[0-9][0-9.]*)?$/.test(machineType);
}

const CPU_MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function machineArgs(cfg: QemuLaunchConfig): string[] {
  const base = cfg.machineType ?? MACHINE_ALIAS[cfg.guestArch];
  if (!machineFamilyFits(cfg.guestArch, base))
    throw new Error(`machine type ${JSON.stringify(base)} is not a ${MACHINE_ALIAS[cfg.guestArch]} machine type`);
  if (cfg.cpuModel !== undefined && !CPU_MODEL.test(cfg.cpuModel))
    throw new Error(`invalid CPU model ${JSON.stringify(cfg.cpuModel)}`);
  if (cfg.guestArch === "x86_64") {
    return ["-machine", base, "-accel", cfg.accel, "-cpu", cfg.cpuModel ?? (cfg.accel === "kvm" ? "host" : "max")];
  }
  // virt: GICv3 "max" with KVM follows the host GIC; under TCG GICv2 is the cheap default but
  // only addresses 8 CPUs, so bigger guests get an emulated GICv3.
  const gic = cfg.accel === "kvm" ? "max" : cfg.vcpus > 8 ? "3" : null;
  const machine = gic ? `${base},gic-version=${gic}` : base;
  return [
    "-machine",
    machine,
    "-accel",
    cfg.accel,
    "-cpu",
    cfg.cpuModel ?? (cfg.accel === "kvm" ? "host" : "cortex-a57"),
  ];
}

function firmwareArgs(cfg: QemuLaunchConfig): string[] {
  if (cfg.boot.type === "kernel") return [];
  // aarch64 always boots disks through UEFI (AAVMF); x86 only when the image asks for it.
  const uefi = cfg.guestArch === "aarch64" || cfg.boot.firmware === "uefi";
  if (!uefi) return []; // SeaBIOS is QEMU's built-in default on q35
  const pf = cfg.boot.pflash;
  if (!pf) throw new Error(`UEFI boot of an ${cfg.guestArch} ${cfg.boot.type} needs firmware code and vars files`);
  assertSafeValue("firmware code path", pf.code);
  assertSafeValue("firmware vars path", pf.vars);
  return [
    "-drive",
    `if=pflash,unit=0,format=raw,readonly=on,file=${escapeOptValue(pf.code)}`,
    "-drive",
    `if=pflash,unit=1,format=raw,file=${escapeOptValue(pf.vars)}`,
  ];
}

function diskArgs(cfg: QemuLaunchConfig): string[] {
  if (!cfg.disk) return [];
  assertSafeValue("disk path", cfg.disk);
  // ISO installs boot the CD first (bootindex 0) and fall through to this disk once it is ejected.
  const boot = cfg.boot.type === "kernel" ? "" : ",bootindex=1";
  return [
    "-blockdev",
    `driver=file,node-name=disk0-file,filename=${escapeOptValue(cfg.disk)},cache.direct=off,discard=unmap`,
    "-blockdev",
    "driver=qcow2,node-name=disk0,file=disk0-file,discard=unmap",
    "-device",
    `virtio-blk-pci,id=vda,drive=disk0${boot}`,
  ];
}

/**
 * The CD drives: x86 q35 uses its built-in AHCI (ide-cd, what every x86 guest and firmware can
 * read); aarch64 virt has no IDE/AHCI, so scsi-cd on one virtio-scsi controller (DESIGN.md).
 * Every VM has the drive cd0 (empty, or the ISO of an install / an inserted medium) so media can
 * be changed while it runs; the cloud-init seed, when there is one, is a second, fixed CD that is
 * never booted from. The seed keeps the port it always had (x86 ide.2, SCSI target 0).
 */
function cdArgs(cfg: QemuLaunchConfig): string[] {
  const args: string[] = [];
  const x86 = cfg.guestArch === "x86_64";
  if (!x86) args.push("-device", "virtio-scsi-pci,id=scsi0");
  if (cfg.seedIso) {
    assertSafeValue("seed ISO path", cfg.seedIso);
    args.push(...readOnlyRaw("seed0", cfg.seedIso));
    args.push(
      "-device",
      x86 ? "ide-cd,id=cidata,bus=ide.2,drive=seed0" : "scsi-cd,id=cidata,bus=scsi0.0,scsi-id=0,lun=0,drive=seed0",
    );
  }
  let drive = "";
  if (cfg.cdrom) {
    assertSafeValue("CD medium path", cfg.cdrom);
    args.push(...readOnlyRaw("cd0-medium", cfg.cdrom));
    drive = ",drive=cd0-medium";
  }
  const boot = cfg.boot.type === "iso" ? ",bootindex=0" : "";
  args.push(
    "-device",
    x86
      ? `ide-cd,id=${CDROM_ID},bus=ide.3${drive}${boot}`
      : `scsi-cd,id=${CDROM_ID},bus=scsi0.0,scsi-id=1,lun=0${drive}${boot}`,
  );
  return args;
}

function readOnlyRaw(node: string, file: string): string[] {
  return [
    "-blockdev",
    `driver=file,node-name=${node}-file,filename=${escapeOptValue(file)},read-only=on`,
    "-blockdev",
    `driver=raw,node-name=${node},file=${node}-file,read-only=on`,
  ];
}

/** Root ports for hot-plug (always all of them: they cannot be added to a running VM) and the volumes attached at start. */
function volumeArgs(cfg: QemuLaunchConfig): string[] {
  const args: string[] = [];
  for (let i = 0; i < VOLUME_PORTS; i++) {
    args.push(
      "-device",
      [
        `pcie-root-port,id=${rootPortId(i)},bus=pcie.0,chassis=${i + 1},port=${0x10 + i}`,
        `addr=0x${ROOT_PORT_SLOT.toString(16)}.${i}${i === 0 ? ",multifunction=on" : ""}`,
      ].join(","),
    );
  }
  const used = new Set<number>();
  for (const v of cfg.volumes ?? []) {
    if (used.has(v.port)) throw new Error(`two volumes on root port ${v.port}`);
    used.add(v.port);
    const bd = volumeBlockdev(v.port, v.path);
    const dev = volumeDevice(v.port, v.serial);
    args.push(
      "-blockdev",
      [
        `driver=qcow2,node-name=${String(bd["node-name"])},discard=unmap`,
        `file.driver=file,file.filename=${escapeOptValue(v.path)},file.cache.direct=off,file.discard=unmap`,
      ].join(","),
      "-device",
      `${dev.driver},id=${dev.id},drive=${dev.drive},bus=${dev.bus},serial=${dev.serial}`,
    );
  }
  return args;
}

function kernelArgs(cfg: QemuLaunchConfig): string[] {
  if (cfg.boot.type !== "kernel") return [];
  assertPlainPath("kernel path", cfg.boot.kernel);
  const args = ["-kernel", cfg.boot.kernel];
  if (cfg.boot.initrd) {
    assertPlainPath("initrd path", cfg.boot.initrd);
    args.push("-initrd", cfg.boot.initrd);
  }
  const cmdline = kernelCmdline(cfg.guestArch, cfg.boot.cmdline);
  if (/[\0\n\r]/.test(cmdline)) throw new Error("kernel cmdline contains a control character");
  args.push("-append", cmdline);
  return args;
}

function nicArgs(cfg: QemuLaunchConfig): string[] {
  if (cfg.nics.length === 0) return ["-nic", "none"];
  const args: string[] = [];
  for (const nic of cfg.nics) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(nic.id)) throw new Error(`invalid NIC id ${JSON.stringify(nic.id)}`);
    if (!TAP_NAME.test(nic.tap))
      throw new Error(`invalid tap name ${JSON.stringify(nic.tap)} (1-15 letters, digits, '_', '.', '-')`);
    if (!MAC.test(nic.mac)) throw new Error(`invalid MAC ${JSON.stringify(nic.mac)}`);
    // OVS userspace datapath does not fill in offloaded checksums: keep them in the guest.
    args.push(
      "-netdev",
      `tap,id=net-${nic.id},ifname=${nic.tap},script=no,downscript=no,vnet_hdr=off`,
      "-device",
      `virtio-net-pci,id=nic-${nic.id},netdev=net-${nic.id},mac=${nic.mac},csum=off,guest_csum=off`,
    );
  }
  return args;
}

/** The display device a config resolves to (see QemuLaunchConfig.display). */
export function displayOf(cfg: Pick<QemuLaunchConfig, "guestArch" | "display">): Display {
  const d = cfg.display ?? (cfg.guestArch === "x86_64" ? "vga" : "virtio-gpu");
  if (!displayFits(cfg.guestArch, d)) throw new Error(`display ${d} is not available for ${cfg.guestArch} guests`);
  return d;
}

function displayAndInputArgs(cfg: QemuLaunchConfig): string[] {
  const device = displayOf(cfg);
  // No display device: no VNC server either (there would be nothing to show).
  if (device === "none") return ["-display", "none"];
  // VNC: "share=allow-exclusive" is QEMU's default; force-shared keeps a client that asks for
  // exclusive access from disconnecting the others (several browsers may watch one VM).
  const display = cfg.vncSocket
    ? ["-vnc", `unix:${escapeOptValue(cfg.vncSocket)},share=force-shared`]
    : ["-display", "none"];
  if (cfg.guestArch === "x86_64") {
    // q35 keeps its built-in i8042 (PS/2) under -nodefaults; std VGA is what SeaBIOS/OVMF draw on.
    return [...display, "-device", "VGA,id=video0"];
  }
  // No VGA on aarch64: virtio-gpu (or ramfb, set up by the firmware), and USB input on an xHCI controller.
  return [
    ...display,
    "-device",
    device === "ramfb" ? "ramfb,id=video0" : "virtio-gpu-pci,id=video0",
    "-device",
    "qemu-xhci,id=xhci",
    "-device",
    "usb-kbd,bus=xhci.0",
    "-device",
    "usb-tablet,bus=xhci.0",
  ];
}

/** Full argv (without the binary) for one VM. Throws on values that cannot be passed safely. */
export function buildQemuArgs(cfg: QemuLaunchConfig): string[] {
  if (!Number.isInteger(cfg.vcpus) || cfg.vcpus < 1) throw new Error("vcpus must be a positive integer");
  if (!Number.isInteger(cfg.memoryMb) || cfg.memoryMb < 16) throw new Error("memoryMb must be an integer >= 16");
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(cfg.id)) throw new Error(`invalid VM id ${JSON.stringify(cfg.id)}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(cfg.name))
    throw new Error(`invalid VM name ${JSON.stringify(cfg.name)}`);
  for (const [what, p] of [
    ["QMP socket", cfg.qmpSocket],
    ["serial socket", cfg.serialSocket],
    ["serial log", cfg.serialLog],
    ["pidfile", cfg.pidFile],
  ] as const) {
    assertSafeValue(what, p);
  }
  if (cfg.vncSocket) assertSafeValue("VNC socket", cfg.vncSocket);
  const sandbox = cfg.sandbox ?? true;
  return [
    "-name",
    `guest=${cfg.name},process=pa-${cfg.id}`,
    "-no-user-config",
    "-nodefaults",
    ...machineArgs(cfg),
    "-smp",
    String(cfg.vcpus),
    "-m",
    `${cfg.memoryMb}M`,
    ...firmwareArgs(cfg),
    ...kernelArgs(cfg),
    ...diskArgs(cfg),
    ...cdArgs(cfg),
    ...nicArgs(cfg),
    ...displayAndInputArgs(cfg),
    // Guests that generate keys at first boot would otherwise stall waiting for entropy.
    "-object",
    "rng-random,id=rng0,filename=/dev/urandom",
    "-device",
    "virtio-rng-pci,rng=rng0",
    ...volumeArgs(cfg),
    "-chardev",
    `socket,id=qmp,path=${escapeOptValue(cfg.qmpSocket)},server=on,wait=off`,
    "-mon",
    "chardev=qmp,mode=control",
    "-chardev",
    `socket,id=serial0,path=${escapeOptValue(cfg.serialSocket)},server=on,wait=off,logfile=${escapeOptValue(cfg.serialLog)},logappend=on`,
    "-serial",
    "chardev:serial0",
    "-pidfile",
    cfg.pidFile,
    "-msg",
    "timestamp=on",
    ...(cfg.incoming ? ["-S", "-incoming", "defer"] : []),
    ...(sandbox ? ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"] : []),
  ];
}
