// Where a process's CPU went, from a V8 .cpuprofile (bench/cpu-profiler.mjs): each sample's time goes
// to the layer of its nearest frame that has a script (a native call such as better-sqlite3's
// `Statement` or TLS's `setKey` belongs to the JS that called it). Used by bench/creates.ts to say,
// per create, how much of the controller's one JS thread the ORM, Next.js, Node's HTTP/TLS, the
// validator, the garbage collector and our own code take.

export const LAYERS = [
  "ORM + SQL driver",
  "Next.js",
  "Node HTTP/TLS/streams",
  "zod",
  "GC",
  "Polyarch",
  "async context, microtasks, other",
] as const;
const OTHER: Layer = "async context, microtasks, other";
export type Layer = (typeof LAYERS)[number];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The layer a script URL belongs to (bundled chunks are named after what they hold). */
export function layerOfUrl(url: string): Layer | "profiler" | null {
  if (!url) return null;
  if (url === "node:inspector") return "profiler";
  if (/node_modules[/_]@?prisma|better-sqlite3|node_modules\/pg[-/]|node_modules_pg/.test(url))
    return "ORM + SQL driver";
  if (/node_modules[/_]zod/.test(url)) return "zod";
  if (/node_modules\/next\/|node_modules_next_|\[root-of-the-server\]/.test(url)) return "Next.js";
  if (
    /^node:(_tls|tls|https|http|_http|net|zlib|stream|internal\/(streams|webstreams|stream_base_commons|deps\/undici|tls|http))/.test(
      url,
    )
  )
    return "Node HTTP/TLS/streams";
  if (/\/\.next\/server\/chunks\/(lib|app)_|\/lib\/|\/app\/|\/dist\/server\.mjs/.test(url)) return "Polyarch";
  return OTHER;
}

const SQLITE_NATIVE = new Set(["all", "run", "get", "iterate", "columns", "Statement", "exec", "pluck", "raw"]);

/** Milliseconds of CPU per layer (idle time and the profiler's own work left out). */
export function cpuByLayer(profile: CpuProfile): Record<Layer, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const layerOf = new Map<number, Layer | "profiler" | null>();
  const resolve = (id: number): Layer | "profiler" | null => {
    if (layerOf.has(id)) return layerOf.get(id)!;
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    let layer: Layer | "profiler" | null;
    if (name === "(garbage collector)") layer = "GC";
    // better-sqlite3's native statement calls, whoever calls them (the adapter, or the statement
    // cache in lib/server/platform/db.ts, which is bundled into a chunk named by hash only)
    else if (!node.callFrame.url && SQLITE_NATIVE.has(name)) layer = "ORM + SQL driver";
    else if (name === "(idle)" || name === "(program)" || name === "(root)") layer = null;
    else layer = layerOfUrl(node.callFrame.url) ?? (parent.has(id) ? resolve(parent.get(id)!) : OTHER);
    layerOf.set(id, layer);
    return layer;
  };
  const out = Object.fromEntries(LAYERS.map((l) => [l, 0])) as Record<Layer, number>;
  profile.samples.forEach((id, i) => {
    const layer = resolve(id);
    if (layer && layer !== "profiler") out[layer] += (profile.timeDeltas[i] ?? 0) / 1000;
  });
  return out;
}
