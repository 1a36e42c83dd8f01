// The layer split of a CPU profile: a native frame (no script) counts for the JS that called it,
// idle and the profiler itself count for nothing.
import { describe, expect, it } from "vitest";
import { cpuByLayer, layerOfUrl, type CpuProfile } from "./cpu-breakdown";

const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url },
  children,
});

describe("cpuByLayer", () => {
  it("charges natives to their caller's layer and skips idle and the profiler", () => {
    const profile: CpuProfile = {
      nodes: [
        frame(1, "(root)", "", [2, 5, 6, 7, 8]),
        frame(2, "performIO", "file:///r/node_modules/@prisma/adapter-better-sqlite3/dist/index.mjs", [3]),
        frame(3, "all", "", []),
        frame(5, "createVm", "file:///r/.next/server/chunks/lib_server_vms_abc._.js", [9]),
        frame(6, "(garbage collector)", ""),
        frame(7, "(idle)", ""),
        frame(8, "dispatch", "node:inspector"),
        frame(9, "setKey", "", []),
      ],
      samples: [3, 3, 2, 5, 6, 7, 8, 9],
      timeDeltas: [1000, 1000, 1000, 2000, 500, 9000, 700, 300],
    };
    const r = cpuByLayer(profile);
    expect(r["ORM + SQL driver"]).toBe(3);
    expect(r.Polyarch).toBe(2.3);
    expect(r.GC).toBe(0.5);
    expect(Object.values(r).reduce((a, b) => a + b, 0)).toBeCloseTo(5.8);
  });

  it("names layers from bundled chunk and module URLs", () => {
    expect(layerOfUrl("file:///r/.next/server/chunks/node_modules_zod_v4_classic_schemas_0x._.js")).toBe("zod");
    expect(layerOfUrl("file:///r/node_modules/next/dist/server/base-server.js")).toBe("Next.js");
    expect(layerOfUrl("node:_tls_wrap")).toBe("Node HTTP/TLS/streams");
    expect(layerOfUrl("node:internal/stream_base_commons")).toBe("Node HTTP/TLS/streams");
    expect(layerOfUrl("file:///r/node_modules/pg/lib/client.js")).toBe("ORM + SQL driver");
    expect(layerOfUrl("node:internal/async_hooks")).toBe("async context, microtasks, other");
  });
});
