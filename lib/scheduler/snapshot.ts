// Turn a stored Host row (JSON-string arch lists, free-form status strings) into a HostSnapshot.
// Pure so the server and tests share it; unknown values fail safe (offline / disabled / no arches).
import { normalizeArch, type Arch } from "../arch";
import type { HostAdminState, HostSnapshot } from "./types";

export interface HostRow extends Omit<
  HostSnapshot,
  "arch" | "status" | "adminState" | "nativeArches" | "emulatedArches"
> {
  arch: string;
  status: string;
  adminState: string;
  /** the agent's base URL as stored (null: none yet); absent = not read, assumed reachable */
  agentUrl?: string | null;
  /** JSON array text as stored, or an already-parsed array */
  nativeArches: string | readonly string[];
  emulatedArches: string | readonly string[];
}

// A fleet stores a handful of distinct arch lists ('["x86_64"]', '[]', …): parse each text once, not
// twice per host per placement. Bounded, so hostile values cannot grow it without limit.
const parsedLists = new Map<string, readonly Arch[]>();
const PARSED_LISTS_MAX = 64;

export function parseArchList(value: string | readonly string[]): Arch[] {
  if (typeof value !== "string") return parseArchListUncached(value);
  let parsed = parsedLists.get(value);
  if (!parsed) {
    parsed = parseArchListUncached(value);
    if (parsedLists.size >= PARSED_LISTS_MAX) parsedLists.clear();
    parsedLists.set(value, parsed);
  }
  return parsed.slice(); // a fresh array per snapshot: callers may keep or change theirs
}

function parseArchListUncached(value: string | readonly string[]): Arch[] {
  let list: unknown = value;
  if (typeof value === "string") {
    try {
      list = JSON.parse(value);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(list)) return [];
  const out: Arch[] = [];
  for (const v of list) {
    const a = normalizeArch(typeof v === "string" ? v : null);
    if (a && !out.includes(a)) out.push(a);
  }
  return out;
}

const ADMIN_STATES: readonly HostAdminState[] = ["enabled", "maintenance", "disabled"];

export function hostSnapshotFromRow(row: HostRow): HostSnapshot {
  return {
    id: row.id,
    name: row.name,
    // An unrecognised arch cannot be matched by the architecture filter anyway; x86_64 is only a label here.
    arch: normalizeArch(row.arch) ?? "x86_64",
    status: row.status === "online" ? "online" : "offline",
    adminState: (ADMIN_STATES as readonly string[]).includes(row.adminState)
      ? (row.adminState as HostAdminState)
      : "disabled",
    cpuCount: row.cpuCount,
    memoryMb: row.memoryMb,
    diskGb: row.diskGb,
    cpuAllocationRatio: row.cpuAllocationRatio,
    ramAllocationRatio: row.ramAllocationRatio,
    reservedCpus: row.reservedCpus,
    reservedMemoryMb: row.reservedMemoryMb,
    reservedDiskGb: row.reservedDiskGb,
    allocatedCpus: row.allocatedCpus,
    allocatedMemoryMb: row.allocatedMemoryMb,
    allocatedDiskGb: row.allocatedDiskGb,
    nativeArches: parseArchList(row.nativeArches),
    emulatedArches: parseArchList(row.emulatedArches),
    maxVcpusNative: row.maxVcpusNative,
    maxVcpusEmulated: row.maxVcpusEmulated,
    ...(row.kvm !== undefined ? { kvm: row.kvm } : {}),
    ...(row.agentUrl !== undefined ? { hasAgent: Boolean(row.agentUrl) } : {}),
  };
}
