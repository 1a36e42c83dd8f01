// Weighers rank the hosts that passed every filter (OpenStack Nova style: normalise, multiply, sum).
import { freeMemoryMb, freeVcpus } from "./capacity";
import type { HostSnapshot, PlacementRequest, Strategy, Weigher } from "./types";

/** Free RAM left on the host once this VM is placed. */
export function ramAfterWeigher(multiplier: number): Weigher {
  return { name: "ram-after", multiplier, weight: (host, req) => freeMemoryMb(host) - req.memoryMb };
}

/** Free vCPUs left on the host once this VM is placed. */
export function vcpuAfterWeigher(multiplier: number): Weigher {
  return { name: "vcpu-after", multiplier, weight: (host, req) => freeVcpus(host) - req.vcpus };
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

/** Scores of the candidates plus the order that ranks them: best first is `compare(a, b) < 0`. */
export interface Scored {
  scores: Float64Array;
  /** total order over indices: score, then the tie-breakers, then name, then id */
  compare(a: number, b: number): number;
}

/**
 * Min-max normalises each weigher across candidates (so multipliers compare across units) and sums.
 * Tie-breaker weights are computed only for hosts whose scores tie, and only once each.
 * O(n) per weigher: picking the best is one more pass (bestIndex), sorting everything is optional.
 */
export function scoreHosts(hosts: readonly HostSnapshot[], req: PlacementRequest, def: StrategyDef): Scored {
  const n = hosts.length;
  const scores = new Float64Array(n);
  const raw = new Float64Array(n);
  for (const w of def.weighers) {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = w.weight(hosts[i]!, req);
      raw[i] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const range = max - min;
    if (range === 0) continue; // all equal: this weigher cannot tell them apart
    for (let i = 0; i < n; i++) scores[i]! += (w.multiplier * (raw[i]! - min)) / range;
  }
  const ties = def.tieBreakers.map(() => new Float64Array(n).fill(NaN)); // NaN = not computed yet
  const tie = (t: number, i: number) => {
    let v = ties[t]![i]!;
    if (Number.isNaN(v)) {
      const w = def.tieBreakers[t]!;
      v = ties[t]![i] = Math.sign(w.multiplier) * w.weight(hosts[i]!, req);
    }
    return v;
  };
  const compare = (a: number, b: number) => {
    if (scores[a] !== scores[b]) return scores[b]! - scores[a]!;
    for (let t = 0; t < ties.length; t++) {
      const ta = tie(t, a);
      const tb = tie(t, b);
      if (ta !== tb) return tb - ta;
    }
    const ha = hosts[a]!;
    const hb = hosts[b]!;
    return ha.name < hb.name ? -1 : ha.name > hb.name ? 1 : ha.id < hb.id ? -1 : ha.id > hb.id ? 1 : 0;
  };
  return { scores, compare };
}

/** The best candidate in one pass: the same host a stable sort by `compare` would put first. */
export function bestIndex({ scores, compare }: Scored): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (compare(i, best) < 0) best = i;
  return best;
}

/** Every candidate, best first (O(n log n)); only previews and the wizard need the whole order. */
export function rankOrder({ scores, compare }: Scored): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort(compare);
}

/** Ranks hosts best first (scoreHosts + rankOrder). */
export function rankHosts(
  hosts: readonly HostSnapshot[],
  req: PlacementRequest,
  def: StrategyDef,
): { order: number[]; scores: number[] } {
  const scored = scoreHosts(hosts, req, def);
  return { order: rankOrder(scored), scores: Array.from(scored.scores) };
}

export function weighHosts(hosts: readonly HostSnapshot[], req: PlacementRequest, def: StrategyDef): Weighed[] {
  const { order, scores } = rankHosts(hosts, req, def);
  return order.map((i) => ({ host: hosts[i]!, score: scores[i]! }));
}
