import { describe, expect, it } from "vitest";
import { heartbeatRequestSchema, registerRequestSchema } from "../lib/schemas/agent-api";
import {
  FULL_REPORT_MS,
  simFacts,
  simHeartbeatBody,
  simMachineId,
  summarize,
  type Sample,
  type SimAgent,
} from "./heartbeat-sim";

const agent = (index: number, beats: number) =>
  ({ index, beats, agentUrl: "https://127.0.0.1:20001", machineId: simMachineId(index) }) as SimAgent;
const opts = { vmsPerAgent: 3, imageIds: ["img-a", "img-b"], intervalMs: 10_000, mode: "agent" as const };

describe("heartbeat simulator payloads", () => {
  it("sends what the controller accepts: the full report first, then usage, VMs and metrics only", () => {
    const first = heartbeatRequestSchema.parse(simHeartbeatBody(agent(3, 0), opts));
    expect(first.facts?.arch).toBe("aarch64");
    expect(first.facts?.machineId).toBe(simMachineId(3));
    expect(first.agentUrl).toBe("https://127.0.0.1:20001");
    expect(first.images?.map((i) => i.imageId)).toEqual(["img-a", "img-b"]);
    expect(first.metrics).toBeUndefined();
    const later = heartbeatRequestSchema.parse(simHeartbeatBody(agent(3, 5), opts));
    expect(later.facts).toBeUndefined();
    expect(later.agentUrl).toBeUndefined();
    expect(later.images).toBeUndefined();
    expect(later.metrics?.vms.map((v) => v.id)).toEqual(later.vms.map((v) => v.id));
  });

  it("repeats the full report every 5 minutes per agent, staggered; the worst case sends it every time", () => {
    const every = FULL_REPORT_MS / opts.intervalMs;
    const fullBeats = (index: number) =>
      Array.from({ length: 2 * every }, (_, b) => b + 1).filter((b) => simHeartbeatBody(agent(index, b), opts).facts);
    expect(fullBeats(0)).toEqual([every, 2 * every]);
    expect(fullBeats(1)).toEqual([every - 1, 2 * every - 1]);
    const worst = heartbeatRequestSchema.parse(simHeartbeatBody(agent(1, 7), { ...opts, mode: "worst-case" }));
    expect(worst.facts?.machineId).toBe(simMachineId(1));
    expect(worst.images).toHaveLength(2);
    expect(worst.metrics).toBeDefined();
  });

  it("gives every agent its own machine id and valid registration facts", () => {
    const ids = new Set(Array.from({ length: 1000 }, (_, i) => simMachineId(i)));
    expect(ids.size).toBe(1000);
    const facts = simFacts(0);
    expect(() =>
      registerRequestSchema.parse({
        joinToken: "x".repeat(16),
        agentUrl: "https://127.0.0.1:20000",
        facts,
        tls: { publicKey: "k".repeat(100), proof: "p".repeat(16) },
      }),
    ).not.toThrow();
  });
});

describe("summarize", () => {
  const s = (kind: Sample["kind"], startMs: number, ms: number, ok = true): Sample => ({ kind, startMs, ms, ok });

  it("counts only the kind and window asked for; errors count but have no latency", () => {
    const samples = [
      s("heartbeat", 999, 500), // before the window
      ...Array.from({ length: 100 }, (_, i) => s("heartbeat", 1000 + i * 10, i + 1)),
      s("heartbeat", 1500, 9999, false),
      s("register", 1500, 7000),
      s("heartbeat", 3000, 800), // at the end: excluded
    ];
    const r = summarize(samples, "heartbeat", 1000, 3000);
    expect(r.count).toBe(101);
    expect(r.errors).toBe(1);
    expect(r.perSecond).toBeCloseTo(50.5);
    expect(r.p50).toBe(51);
    expect(r.p99).toBe(100);
    expect(r.max).toBe(100);
  });

  it("has no latency when nothing succeeded", () => {
    const r = summarize([s("heartbeat", 5, 1, false)], "heartbeat", 0, 1000);
    expect(r).toMatchObject({ count: 1, errors: 1 });
    expect(Number.isNaN(r.p99)).toBe(true);
  });
});
