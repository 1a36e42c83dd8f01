// What a local fleet is made of: architectures and how many agents of each (POLYARCH_FLEET,
// e.g. "x86_64:2,aarch64:2"), and the names each agent gets. The first agent of an arch keeps the
// names a one-per-arch fleet always had (<dataDir>/<arch>, local-<arch>, bridge pa<tag>x) so
// existing data dirs and specs keep working; the n-th (n >= 2) gets <arch>-<n> everywhere.
import os from "node:os";
import path from "node:path";

const ALIASES = {
  x86_64: "x86_64",
  amd64: "x86_64",
  x64: "x86_64",
  "x86-64": "x86_64",
  aarch64: "aarch64",
  arm64: "aarch64",
  armv8: "aarch64",
};
/** Agents of one arch on one machine: each is a Node (under qemu-user for aarch64) plus its QEMUs. */
export const MAX_AGENTS_PER_ARCH = 8;

export function normalizeArch(a) {
  const v =
    ALIASES[
      String(a ?? "")
        .trim()
        .toLowerCase()
    ];
  if (!v) throw new Error(`unknown architecture "${a}" (x86_64 or aarch64)`);
  return v;
}
export const hostArch = () => normalizeArch(os.machine());

/**
 * "x86_64:2,aarch64:2" -> { x86_64: 2, aarch64: 2 } (a bare arch means 1). Strict: an unknown
 * arch, a count that is not an integer 1..8, an arch named twice or an empty list is an error.
 */
export function parseFleetSpec(text, what = "POLYARCH_FLEET") {
  const parts = String(text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new Error(`${what} is empty: e.g. x86_64:2,aarch64:2`);
  const counts = {};
  for (const part of parts) {
    const m = /^([A-Za-z0-9_-]+)(?::(.*))?$/.exec(part);
    if (!m) throw new Error(`${what}: "${part}" is not <arch>[:<count>] (e.g. x86_64:2)`);
    let arch;
    try {
      arch = normalizeArch(m[1]);
    } catch (e) {
      throw new Error(`${what}: ${e instanceof Error ? e.message : e}`);
    }
    const raw = m[2] === undefined ? "1" : m[2].trim();
    const count = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(count >= 1 && count <= MAX_AGENTS_PER_ARCH))
      throw new Error(
        `${what}: the count of ${arch} must be a whole number from 1 to ${MAX_AGENTS_PER_ARCH} (got "${m[2]}")`,
      );
    if (counts[arch] !== undefined) throw new Error(`${what}: ${arch} is named twice`);
    counts[arch] = count;
  }
  return counts;
}

/**
 * Counts from startFleet's options: `fleet` (an object like { x86_64: 2 } or a POLYARCH_FLEET
 * string) wins over `arches` (one agent each). A count of 0 in an object leaves that arch out.
 */
export function fleetCounts({ fleet, arches } = {}) {
  if (typeof fleet === "string") return parseFleetSpec(fleet);
  if (fleet && typeof fleet === "object") {
    const counts = {};
    for (const [k, v] of Object.entries(fleet)) {
      const arch = normalizeArch(k);
      if (v === 0 || v === undefined) continue;
      if (!Number.isInteger(v) || v < 1 || v > MAX_AGENTS_PER_ARCH)
        throw new Error(
          `fleet: the count of ${arch} must be a whole number from 0 to ${MAX_AGENTS_PER_ARCH} (got ${v})`,
        );
      counts[arch] = (counts[arch] ?? 0) + v;
    }
    if (Object.keys(counts).length === 0) throw new Error("fleet: no agent asked for");
    return counts;
  }
  const counts = {};
  for (const a of arches ?? ["x86_64"]) counts[normalizeArch(a)] = 1;
  return counts;
}

/**
 * One entry per agent, in start order (all of the first arch, then the next): its index (1-based
 * within its arch), directory, machine id, OVS bridge and the patch pair to the uplink bridge.
 * Interface names stay within Linux's 15 characters: pa + 6-hex tag + x/a + index + p.
 */
export function agentSlots(counts, { dataDir, tag, machineIdPrefix = "local" }) {
  const slots = [];
  for (const [arch, count] of Object.entries(counts)) {
    const short = arch === "x86_64" ? "x" : "a";
    for (let index = 1; index <= count; index++) {
      const suffix = index === 1 ? "" : String(index);
      const name = index === 1 ? arch : `${arch}-${index}`;
      slots.push({
        arch,
        index,
        dir: path.join(dataDir, name),
        machineId: `${machineIdPrefix}-${name}`,
        bridge: `pa${tag}${short}${suffix}`,
        patchHost: `pa${tag}${short}${suffix}p`,
        patchUplink: `pa${tag}u${short}${suffix}`,
      });
    }
  }
  return slots;
}
