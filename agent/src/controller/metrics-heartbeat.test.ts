// The heartbeat carries the sampler's metrics; a sampler that fails costs only the metrics.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import {
  heartbeatRequestSchema,
  type HeartbeatMetrics,
  type HostFacts,
  type VmStatus,
} from "../../../lib/schemas/agent-api";
import { ControllerClient } from "./controller-client";

const facts: HostFacts = {
  hostname: "h1",
  machineId: "m-metrics",
  arch: "x86_64",
  cpuCount: 2,
  cpuModel: "Test",
  memoryMb: 4096,
  diskGb: 20,
  kvm: false,
  qemu: { version: "7.2.0", binaries: {}, firmware: {} },
  ovs: { available: false, version: null, datapath: null },
  nativeArches: [],
  emulatedArches: [],
  maxVcpusNative: null,
  maxVcpusEmulated: null,
  agentVersion: "0.1.0",
};
const vm: VmStatus = {
  id: "vm-1",
  name: "one",
  arch: "x86_64",
  powerState: "running",
  pid: 4242,
  emulated: true,
  accel: "tcg",
  vcpus: 1,
  memoryMb: 256,
};
const sample: HeartbeatMetrics = {
  windowMs: 5000,
  host: { cpuPct: 12.5, memUsedMb: 1000, memTotalMb: 4096 },
  vms: [{ id: "vm-1", cpuPct: 80, rssMb: 120 }],
};

describe("heartbeat metrics", () => {
  let server: http.Server;
  let url = "";
  let root = "";
  const bodies: Record<string, unknown>[] = [];
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "pa-metrics-hb-"));
    server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        if (req.url === "/api/agent/v1/register")
          return void res.end(JSON.stringify({ hostId: "host-1", hostToken: "tok", heartbeatIntervalMs: 5000 }));
        if (req.url === "/api/agent/v1/heartbeat") {
          bodies.push(JSON.parse(body));
          return void res.end(JSON.stringify({ ok: true, heartbeatIntervalMs: 5000 }));
        }
        res.writeHead(404).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("sends the sample for the heartbeat's own VM list, and heartbeats without it when sampling fails", async () => {
    const seen: VmStatus[][] = [];
    let fail = false;
    const client = new ControllerClient({
      controllerUrl: url,
      stateDir: root,
      joinToken: "join-token-0123456789",
      agentUrl: "http://127.0.0.1:7101",
      getFacts: () => facts,
      getUsage: async () => ({ cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] }),
      listVms: async () => [vm],
      getMetrics: async (vms) => {
        seen.push(vms);
        if (fail) throw new Error("no /proc");
        return sample;
      },
    });
    await client.register();
    await client.heartbeat();
    expect(seen).toEqual([[vm]]);
    expect(bodies[0]!.metrics).toEqual(sample);
    expect(heartbeatRequestSchema.safeParse(bodies[0]).error).toBeUndefined();
    fail = true;
    await client.heartbeat();
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).not.toHaveProperty("metrics");
    expect(bodies[1]!.vms).toHaveLength(1);
  });
});
