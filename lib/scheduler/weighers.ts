// Weighers rank the hosts that passed every filter (OpenStack Nova style: normalise, multiply, sum).
import { freeCapacity } from "./capacity";
import type { HostSnapshot, PlacementRequest, Strategy, Weigher } from "./types";

/** Free RAM left on the host once this VM is placed. */
export function ramAfterWeigher(multiplier: number): Weigher {
  return { name: "ram-after", multiplier, weight: (host, req) => freeCapacity(host).memoryMb - req.memoryMb };
}

/** Free vCPUs left on the host once this VM is placed. */
export function vcpuAfterWeigher(multiplier: number): Weigher {
  return { name: "vcpu-after", multiplier, weight: (host, req) => freeCapacity(host).vcpus - req.vcpus };
}

export interface StrategyDef {
  /** summed into the score */
  weighers: Weigher[];
  /** compared one by one (raw weight × sign of multiplier) only when scores are equal; host name breaks the last tie */
  tieBreakers: Weigher[];
}

export const STRATEGIES: Record<Strategy, StrategyDef> = {
  // spread: keep headroom everywhere, so one host failing hurts fewer VMs.
  spread: { weighers: [ramAfterWeigher(1)], tieBreakers: [vcpuAfterWeigher(1)] },
  // pack: fill the fullest host that still fits, leaving whole hosts free for big VMs or power-off.
  pack: { weighers: [ramAfterWeigher(-1)], tieBreakers: [vcpuAfterWeigher(-1)] },
};

export interface Weighed {
  host: HostSnapshot;
  score: number;
}

/**
 * Ranks hosts best first: min-max normalise each weigher across candidates (so multipliers compare
 * across units), sum, then break exact ties with the tie-breakers and finally the name.
 * Works on indices so a 10,000-host fleet sorts numbers, not objects.
 */
export function rankHosts(
  hosts: readonly HostSnapshot[],
  req: PlacementRequest,
  def: StrategyDef,
): { order: number[]; scores: number[] } {
  const n = hosts.length;
  const scores = new Array<number>(n).fill(0);
  for (const w of def.weighers) {
    const raw = hosts.map((h) => w.weight(h, req));
    let min = Infinity;
    let max = -Infinity;
    for (const v of raw) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const range = max - min;
    if (range === 0) continue; // all equal: this weigher cannot tell them apart
    for (let i = 0; i < n; i++) scores[i]! += (w.multiplier * (raw[i]! - min)) / range;
  }
  const ties = def.tieBreakers.map((w) => {
    const sign = Math.sign(w.multiplier);
    return hosts.map((h) => sign * w.weight(h, req));
  });
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    if (scores[a] !== scores[b]) return scores[b]! - scores[a]!;
    for (const t of ties) if (t[a] !== t[b]) return t[b]! - t[a]!;
    const ha = hosts[a]!;
    const hb = hosts[b]!;
    return ha.name < hb.name ? -1 : ha.name > hb.name ? 1 : ha.id < hb.id ? -1 : ha.id > hb.id ? 1 : 0;
  });
  return { order, scores };
}

export function weighHosts(hosts: readonly HostSnapshot[], req: PlacementRequest, def: StrategyDef): Weighed[] {
  const { order, scores } = rankHosts(hosts, req, def);
  return order.map((i) => ({ host: hosts[i]!, score: scores[i]! }));
}
