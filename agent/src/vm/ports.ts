// A VM's network ports (OVS taps from the network driver), recorded in state.json as soon as each
// exists so that a restarted agent can still remove them.
import { AgentError, errMessage } from "./errors";
import { saveState, type Vm, type VmContext, type VmRuntimeState } from "./state";
import type { NicSpec } from "./types";

export async function addPort(ctx: VmContext, vm: Vm, nic: NicSpec): Promise<void> {
  if (!ctx.opts.network) throw new AgentError("conflict", "this agent has no network driver");
  const tap = await ctx.opts.network.addPort(vm.id, nic);
  vm.state.taps[nic.id] = tap;
  vm.state.nicSpecs[nic.id] = nic;
  await saveState(vm);
}

/**
 * Re-applies port security to every recorded port of a VM found at start-up: the rules live only in
 * ovs-vswitchd (gone after its restart) and ports plugged by an older agent have none (ADR 028).
 * Failures are logged, not thrown: start-up must go on; the next plug retries.
 */
export async function resecurePorts(ctx: VmContext, vm: Vm): Promise<void> {
  const network = ctx.opts.network;
  if (!network?.securePort) return;
  for (const [nicId, tap] of Object.entries(vm.state.taps)) {
    const nic = vm.state.nicSpecs[nicId];
    if (!nic) continue;
    try {
      await network.securePort(vm.id, nic, tap);
    } catch (err) {
      ctx.log("could not re-apply port security", { id: vm.id, nic: nicId, tap, error: errMessage(err) });
    }
  }
}

/** Removes every recorded port; the ones removed are dropped from `state`, failures are thrown together. */
export async function releasePorts(ctx: VmContext, id: string, state: VmRuntimeState): Promise<void> {
  const errors: string[] = [];
  for (const [nicId, tap] of Object.entries(state.taps)) {
    const nic = state.nicSpecs[nicId] ?? { id: nicId, mac: "00:00:00:00:00:00", vlan: 0 };
    try {
      await ctx.opts.network?.removePort(id, nic, tap);
      delete state.taps[nicId];
      delete state.nicSpecs[nicId];
    } catch (err) {
      errors.push(`${tap}: ${errMessage(err)}`);
    }
  }
  if (errors.length) throw new AgentError("unavailable", `could not remove network ports: ${errors.join("; ")}`);
}
