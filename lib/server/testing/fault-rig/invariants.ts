// What must be true after any fault (issue 15), checked against the real processes, OVS and
// database rather than against what the controller says: no orphan QEMU, no leaked tap / OVS port /
// VM directory, every host's allocation equal to the sum of what its VMs, volumes and snapshots
// claim, every task ended with a message, no VM stuck in a transient state, and what the database
// calls running is running.
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Fleet, FleetAgent } from "../../../../scripts/fleet/fleet.mjs";
import { db } from "../../platform";

/** The agent's tap name for a NIC (agent/src/network/ovs.ts tapName), recomputed here on purpose. */
export const tapOf = (vmId: string, nicId: string) =>
  "pa" + crypto.createHash("sha256").update(`${vmId}/${nicId}`).digest("hex").slice(0, 12);

export interface QemuProc {
  pid: number;
  vmId: string;
  agent: FleetAgent;
}

/** Every QEMU process whose pidfile lies in one of the fleet's state dirs (/proc, not the agents' word). */
export function fleetQemus(fleet: Fleet): QemuProc[] {
  const out: QemuProc[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!path.basename(argv[0] ?? "").startsWith("qemu-system")) continue;
    for (const agent of fleet.agents) {
      const prefix = path.join(agent.stateDir, "vms") + path.sep;
      const pidFile = argv.find((a) => a.startsWith(prefix) && a.endsWith(`${path.sep}qemu.pid`));
      if (pidFile) out.push({ pid: Number(entry), vmId: path.basename(path.dirname(pidFile)), agent });
    }
  }
  return out;
}

/** Kernel network devices named like VM taps ("pa" + 12 hex). */
export function kernelTaps(): string[] {
  return fs.readdirSync("/sys/class/net").filter((n) => /^pa[0-9a-f]{12}$/.test(n));
}

function bridgePorts(agent: FleetAgent): string[] {
  const out = execFileSync("ovs-vsctl", [`--db=${agent.ovsDb}`, "--timeout=10", "list-ports", agent.bridge], {
    encoding: "utf8",
  });
  return out.split("\n").filter((p) => /^pa[0-9a-f]{12}$/.test(p));
}

function vmDirs(agent: FleetAgent): string[] {
  try {
    return fs.readdirSync(path.join(agent.stateDir, "vms"));
  } catch {
    return [];
  }
}

const TRANSIENT = new Set(["pending", "scheduling", "creating", "deleting"]);

export interface InvariantOptions {
  /** taps that existed before the rig started (other tests' — never ours to judge) */
  tapsBefore?: Set<string>;
  /** agents that are down on purpose: their VMs' processes are not expected */
  downAgents?: Set<string>;
}

/** Every violated invariant, in words; [] when everything holds. */
export async function findProblems(fleet: Fleet, opts: InvariantOptions = {}): Promise<string[]> {
  const problems: string[] = [];
  const [vms, hosts, tasks, volumes] = await Promise.all([
    db().vm.findMany({ include: { nics: true, snapshots: true } }),
    db().host.findMany(),
    db().task.findMany({ where: { OR: [{ status: { in: ["pending", "running"] } }, { status: "failed" }] } }),
    db().volume.findMany(),
  ]);
  const vmById = new Map(vms.map((v) => [v.id, v]));
  const agentOfHost = new Map(fleet.agents.map((a) => [a.hostId, a]));

  // QEMU: each belongs to an existing VM placed on that agent's host, at most one per VM.
  const qemus = fleetQemus(fleet);
  const seen = new Map<string, number>();
  for (const q of qemus) {
    const vm = vmById.get(q.vmId);
    seen.set(q.vmId, (seen.get(q.vmId) ?? 0) + 1);
    if (!vm) problems.push(`orphan QEMU pid ${q.pid} on ${q.agent.machineId}: VM ${q.vmId} does not exist`);
    else if (vm.hostId !== q.agent.hostId && vm.migratingToHostId !== q.agent.hostId)
      problems.push(
        `orphan QEMU pid ${q.pid} on ${q.agent.machineId}: VM ${vm.name} is placed on ${vm.hostId ?? "no host"}`,
      );
    else if (vm.status === "error" || vm.status === "stopped")
      problems.push(`QEMU pid ${q.pid} runs for VM ${vm.name}, which is ${vm.status}`);
  }
  for (const [id, n] of seen) if (n > 1) problems.push(`${n} QEMU processes for VM ${vmById.get(id)?.name ?? id}`);

  for (const vm of vms) {
    if (TRANSIENT.has(vm.status)) problems.push(`VM ${vm.name} is stuck in ${vm.status}`);
    if (vm.migratingToHostId) problems.push(`VM ${vm.name} still marks a migration to ${vm.migratingToHostId}`);
    const agent = agentOfHost.get(vm.hostId);
    if (vm.status === "running" && agent && !opts.downAgents?.has(agent.machineId) && !seen.has(vm.id))
      problems.push(`VM ${vm.name} is "running" but no QEMU runs for it on ${agent.machineId}`);
  }

  // OVS ports and VM directories: only for VMs placed on that agent's host.
  for (const agent of fleet.agents) {
    if (!agent.hostId) continue;
    const mine = vms.filter((v) => v.hostId === agent.hostId || v.migratingToHostId === agent.hostId);
    const taps = new Set(mine.flatMap((v) => v.nics.map((n) => tapOf(v.id, n.id))));
    for (const port of bridgePorts(agent))
      if (!taps.has(port)) problems.push(`leaked OVS port ${port} on ${agent.bridge} (${agent.machineId})`);
    const ids = new Set(mine.map((v) => v.id));
    for (const dir of vmDirs(agent))
      if (!ids.has(dir))
        problems.push(`leaked VM directory ${agent.machineId}:vms/${dir} (${vmById.get(dir)?.status ?? "no such VM"})`);
  }
  const allTaps = new Set(vms.flatMap((v) => (v.hostId ? v.nics.map((n) => tapOf(v.id, n.id)) : [])));
  for (const tap of kernelTaps())
    if (!allTaps.has(tap) && !opts.tapsBefore?.has(tap)) problems.push(`leaked kernel tap ${tap}`);

  // Addresses: a NIC with an address belongs to a VM that still exists (deleted VMs take theirs along),
  // and no two NICs share an address or a MAC.
  const ips = new Map<string, string>();
  const macs = new Set<string>();
  for (const vm of vms)
    for (const nic of vm.nics) {
      const key = `${nic.networkId}/${nic.ip}`;
      if (nic.ip && ips.has(key)) problems.push(`IP ${nic.ip} given to ${ips.get(key)} and ${vm.name}`);
      if (nic.ip) ips.set(key, vm.name);
      if (macs.has(nic.mac)) problems.push(`MAC ${nic.mac} given twice`);
      macs.add(nic.mac);
    }
  const nicCount = await db().nic.count();
  const vmNicCount = vms.reduce((s, v) => s + v.nics.length, 0);
  if (nicCount !== vmNicCount) problems.push(`${nicCount - vmNicCount} NIC rows without their VM`);

  // Host allocations = the sum of what is placed there.
  for (const h of hosts) {
    const placed = vms.filter((v) => v.hostId === h.id);
    const want = {
      cpus: placed.reduce((s, v) => s + v.vcpus, 0),
      memoryMb: placed.reduce((s, v) => s + v.memoryMb, 0),
      diskGb:
        placed.reduce((s, v) => s + v.diskGb + v.snapshots.reduce((t, x) => t + x.claimedDiskGb, 0), 0) +
        volumes.filter((v) => v.hostId === h.id).reduce((s, v) => s + v.sizeGb, 0),
    };
    const got = { cpus: h.allocatedCpus, memoryMb: h.allocatedMemoryMb, diskGb: h.allocatedDiskGb };
    if (JSON.stringify(want) !== JSON.stringify(got))
      problems.push(`host ${h.name} allocates ${JSON.stringify(got)} but its VMs claim ${JSON.stringify(want)}`);
  }

  // Tasks: ended, and a failure says why.
  for (const t of tasks) {
    if (t.status === "pending" || t.status === "running") problems.push(`task ${t.kind} ${t.id} is still ${t.status}`);
    else if (!t.error?.trim()) problems.push(`failed task ${t.kind} ${t.id} has no message`);
  }
  return problems;
}

/**
 * Waits until every invariant holds (recovery takes time: sweeps, heartbeats, reconciliation), or
 * throws with what still does not after `timeoutMs`.
 */
export async function waitForInvariants(
  fleet: Fleet,
  opts: InvariantOptions & { timeoutMs?: number } = {},
): Promise<void> {
  const end = Date.now() + (opts.timeoutMs ?? 90_000);
  let problems: string[] = [];
  for (;;) {
    problems = await findProblems(fleet, opts);
    if (problems.length === 0) return;
    if (Date.now() > end) throw new Error(`invariants still violated after recovery:\n- ${problems.join("\n- ")}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
