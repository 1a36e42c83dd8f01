"use client";
// The scheduler's and the migration preview's reasons (lib/scheduler: filters.ts, migration.ts) arrive as
// English sentences in the API answer. The common ones are recognised here and shown in the reader's
// language (message keys reasons.<key>, whose English reproduces the server's sentence exactly —
// placement-reasons.test.ts checks that against the real filters); any other reason is shown verbatim.
import { useTranslations } from "next-intl";
import { useStatusLabel } from "@/components/badges";

type Pattern = { key: string; re: RegExp; numbers?: string[] };

const ARCH = "(?:x86_64|aarch64)";
export const REASON_PATTERNS: readonly Pattern[] = [
  { key: "disabled", re: /^host is disabled$/ },
  { key: "maintenance", re: /^host is in maintenance$/ },
  { key: "offline", re: /^host is offline$/ },
  { key: "noAgentNever", re: /^host has no agent address \(its agent never announced itself\)$/ },
  { key: "noAgent", re: /^host has no agent address$/ },
  { key: "revoked", re: /^host is revoked$/ },
  { key: "awaitingApproval", re: /^host is waiting for an admin's approval$/ },
  { key: "current", re: /^the VM runs on this host$/ },
  {
    key: "archEmulationNotAllowed",
    re: new RegExp(
      `^arch (?<host>${ARCH}) ≠ (?<arch>${ARCH}): runs \\k<arch> only emulated \\(TCG\\); emulation not allowed for this VM$`,
    ),
  },
  {
    key: "emulationNotAllowed",
    re: new RegExp(`^runs (?<arch>${ARCH}) only emulated \\(TCG\\); emulation not allowed for this VM$`),
  },
  { key: "noQemu", re: new RegExp(`^no QEMU for (?<arch>${ARCH}) on this host$`) },
  { key: "archMismatch", re: new RegExp(`^arch (?<host>${ARCH}) ≠ (?<arch>${ARCH})$`) },
  { key: "needsVcpus", re: /^needs (?<n>\d+) vCPUs?, (?<free>-?\d+) free$/, numbers: ["n"] },
  { key: "needsRam", re: /^needs (?<need>\d+) MiB RAM, (?<free>-?\d+) free$/ },
  { key: "needsDisk", re: /^needs (?<need>\d+) GiB disk, (?<free>-?\d+) free$/ },
  {
    key: "vcpuLimit",
    re: /^(?<n>\d+) vCPUs? exceed the (?<limit>\d+)-vCPU limit of (?<accel>KVM|TCG) on this host$/,
    numbers: ["n"],
  },
  {
    key: "noEmulator",
    re: new RegExp(`^(?<arch>${ARCH}) VM cannot run on an (?<host>${ARCH}) host \\(no \\k<arch> emulator there\\)$`),
  },
  // the migration preview (lib/scheduler/migration.ts): what a moving guest carries with it
  {
    key: "machineTypesUnknown",
    re: /^the host does not report its machine types; (?<machine>\S+) is assumed present$/,
  },
  {
    key: "machineTypeMissing",
    re: new RegExp(
      `^machine type (?<machine>\\S+) is not offered by this host's (?<qemu>QEMU(?: [\\d.?]+)?) \\(its (?<arch>${ARCH}) default is (?<def>\\S+)\\)$`,
    ),
  },
  {
    key: "qemuOlderLive",
    re: /^QEMU (?<to>[\d.]+) here is older than (?<from>[\d.]+) on the source: QEMU migrates only forward$/,
  },
  { key: "qemuOlder", re: /^QEMU (?<to>[\d.]+) here is older than (?<from>[\d.]+) on the source$/ },
  { key: "qemuUnknown", re: /^a QEMU version is unknown; not compared$/ },
  {
    key: "cpuMaxDiffers",
    re: /^CPU model "max" differs between QEMU (?<from>[\d.]+) and (?<to>[\d.]+); the guest may notice$/,
  },
  { key: "midrUnknown", re: /^a CPU id \(MIDR\) is unknown; host-passthrough compatibility not verified$/ },
  {
    key: "midrMismatch",
    re: /^(?<src>.+) vs (?<dst>.+): KVM guests on aarch64 use host passthrough; the CPUs must match$/,
  },
  { key: "pageSizeUnknown", re: /^a kernel page size is unknown; not compared$/ },
  { key: "pageSizeMismatch", re: /^kernel page size (?<dst>\d+) KiB here vs (?<src>\d+) KiB on the source$/ },
  { key: "gicUnknown", re: /^a GIC version is unknown; not compared$/ },
  { key: "gicMismatch", re: /^GICv(?<dst>\d+) here vs GICv(?<src>\d+) on the source$/ },
  { key: "hostCpuUnknown", re: /^a host CPU model is unknown; host passthrough not verified$/ },
  {
    key: "hostCpuMismatch",
    re: /^CPU model "host" needs an identical CPU: "(?<dst>.*)" here vs "(?<src>.*)" on the source$/,
  },
  { key: "cpuModelsUnknown", re: /^the host does not report its CPU models; (?<model>\S+) is assumed usable$/ },
  { key: "cpuModelUnsupported", re: /^this host's CPU cannot run CPU model (?<model>\S+)$/ },
  {
    key: "tcgToKvm",
    re: new RegExp(
      `^this host runs (?<arch>${ARCH}) with KVM: a TCG guest cannot switch accelerators mid-flight; migrate it stopped \\(cold\\)$`,
    ),
  },
  {
    key: "kvmToTcg",
    re: new RegExp(
      `^this host runs (?<arch>${ARCH}) only emulated \\(TCG\\): a KVM guest cannot switch accelerators mid-flight$`,
    ),
  },
  { key: "willRunKvm", re: /^the VM will run with KVM here; its CPU model is re-pinned$/ },
  { key: "willRunTcg", re: /^the VM will run emulated \(TCG\) here; its CPU model is re-pinned$/ },
  // why a VM cannot move at all right now (migrationBlocked)
  { key: "blockedMigrating", re: /^(?<name>.+) is already being migrated$/ },
  { key: "blockedTask", re: /^a (?<kind>[\w.-]+) task is still running for (?<name>.+)$/ },
  { key: "blockedUnplaced", re: /^(?<name>.+) is not placed on any host$/ },
  { key: "blockedState", re: /^only a running or stopped VM can move; (?<name>.+) is (?<status>[\w-]+)$/ },
  {
    key: "blockedSnapshots",
    re: /^(?<name>.+) has (?<n>\d+) snapshots? inside its disk; delete them first \(they do not move\)$/,
    numbers: ["n"],
  },
];

/** The message key and its values for a reason the table knows, else null. */
export function matchReason(reason: string): { key: string; values: Record<string, string | number> } | null {
  for (const p of REASON_PATTERNS) {
    const m = p.re.exec(reason);
    if (!m) continue;
    const values: Record<string, string | number> = { ...m.groups };
    // plural() counts: a number so the message can pick "vCPU" or "vCPUs"
    for (const k of p.numbers ?? []) values[k] = Number(values[k]);
    return { key: p.key, values };
  }
  return null;
}

/** (reason) => the reason in the reader's language, or as the server sent it. */
export function useReasonText(): (reason: string) => string {
  const t = useTranslations("reasons");
  const statusName = useStatusLabel();
  return (reason) => {
    const m = matchReason(reason);
    if (!m) return reason;
    // a VM status inside a reason ("… is unknown") is a word the console already translates
    const values =
      typeof m.values.status === "string" ? { ...m.values, status: statusName(m.values.status) } : m.values;
    return t(m.key, values);
  };
}
