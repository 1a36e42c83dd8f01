// What VmManager is given (options, the network driver, image resolution) and what it returns.
import type { Arch } from "../../../lib/arch";
import type { VmSpec, VmStatus } from "../../../lib/schemas/agent-api";
import type { PortFirewall } from "../../../lib/schemas/security-groups";
import type { HostLimits } from "./validate";

export type NicSpec = VmSpec["nics"][number];
export type BootSpec = VmSpec["boot"];
/** What the image cache resolves: boot media, or the ISO for the CD drive (spec.cdrom). */
export type MediaRef = BootSpec | { type: "cdrom"; imageId: string; sha256?: string };

export interface ResolvedImage {
  disk?: string;
  kernel?: string;
  initrd?: string;
}

/** Network driver (OVS): creates a tap attached to the bridge with the NIC's VLAN. */
export interface VmNetwork {
  addPort(vmId: string, nic: NicSpec): Promise<string>;
  removePort(vmId: string, nic: NicSpec, tap: string): Promise<void>;
  /** Re-installs the port-security rules of an existing port (agent restart: flows live only in ovs-vswitchd). */
  securePort?(vmId: string, nic: NicSpec, tap: string): Promise<void>;
  /** Replaces the security-group firewall of a plugged port live (null = none). */
  applyFirewall?(vmId: string, nicId: string, fw: PortFirewall | null): Promise<unknown>;
}

export interface VmManagerOptions {
  stateDir: string;
  hostArch: Arch;
  kvm: boolean;
  /** qemu-system binary per guest arch, e.g. { x86_64: "/usr/bin/qemu-system-x86_64" } */
  qemuBinaries: Record<string, string>;
  /** UEFI firmware keyed `<arch>-code` / `<arch>-vars` (as detected by agent/src/host/facts.ts) */
  firmware: Record<string, string>;
  /** machine types per arch (host facts): a pinned spec.machineType QEMU lacks is refused; absent = not checked */
  machines?: HostLimits["machines"];
  /** absolute paths of boot media / CD media in the image cache (downloading them if needed); an ISO is `disk` */
  resolveImage: (ref: MediaRef) => Promise<ResolvedImage>;
  network?: VmNetwork;
  log?: (msg: string, ctx?: Record<string, unknown>) => void;
  /** defaults: CPUs and memory of this machine */
  hostLimits?: Partial<Pick<HostLimits, "cpuCount" | "memoryMb">>;
  /** ACPI stop: how long the guest gets before QEMU is quit (default 60 s) */
  stopTimeoutMs?: number;
  /** QEMU must answer on QMP within this after spawn (default 30 s) */
  startTimeoutMs?: number;
  /** qemu-img binary (default from PATH) */
  qemuImg?: string;
  /** base for socket dirs when <stateDir> is too long for sun_path (default /run/polyarch or tmp) */
  socketBaseDir?: string;
  /** QEMU seccomp sandbox (default on) */
  sandbox?: boolean;
  /** genisoimage binary for cloud-init seeds (default from PATH) */
  genisoimage?: string;
  /** how long a running guest gets to release an unplugged volume (default 30 s; PCIe waits 5 s by design) */
  unplugTimeoutMs?: number;
}

export interface ApplyResult {
  created: boolean;
  /** false when the same spec was applied again: nothing was done */
  changed: boolean;
  status: VmStatus;
}

export interface VmConsolePaths {
  serialSocket: string;
  serialLog: string;
  qmpSocket: string;
  /** QEMU's VNC server; null when the VM has no graphical display */
  vncSocket: string | null;
}
