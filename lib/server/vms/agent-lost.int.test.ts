// A create or delete whose agent is lost (killed or frozen; faults/agent-kill.int.test.ts runs the
// real thing): a call to an agent that stops answering is given up once its host goes offline, not
// at the call's timeout; a create that fails after the host went offline still releases its claim
// (the offline sweep leaves a VM being created to its task); and a failed create bumps the generation, so a copy the agent started anyway
// is evicted by its next heartbeat.
import http from "node:http";
import type net from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestDatabase } from "../../../prisma/test-db";
import type { VmStatus } from "../../schemas/agent-api";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { insertTestHost, insertTestImage } from "../testing/rows";
import { db, type Actor } from "../platform";
import { agentClient, markStaleHostsOffline } from "../hosts";
import { createVm, failProvisioning, recordHeartbeat } from ".";

const actor: Actor = { id: "u1", email: "op@t.test", name: "Op", role: "admin", via: "session" };
const usage = { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] };

/** An "agent" that accepts requests and never answers (a frozen process behind an open socket). */
async function silentAgent(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer(() => undefined);
  server.on("connection", (s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe.each(PROVIDERS)("an agent lost during a create or delete (%s)", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("a call to a silent agent is given up when its host goes offline, and only then", async () => {
    const agent = await silentAgent();
    try {
      const host = await insertTestHost({ agentUrl: agent.url, lastHeartbeatAt: new Date() });
      const call = agentClient.deleteVm(host, "vm-1").then(
        () => "answered",
        (e: Error) => e.message,
      );
      const early = await Promise.race([call, new Promise((r) => setTimeout(() => r("waiting"), 4_500))]);
      expect(early).toBe("waiting"); // online: the call waits for its agent
      // Heartbeats came while it waited (the agent froze later); then the host is marked offline.
      await db().host.update({ where: { id: host.id }, data: { status: "offline", lastHeartbeatAt: new Date() } });
      expect(await call).toMatch(/^The agent on host h1 stopped answering and the host went offline/);
    } finally {
      await agent.close();
    }
  }, 30_000);

  it("a create failed after its host went offline releases the claim; the agent's copy is evicted", async () => {
    const host = await insertTestHost();
    const image = await insertTestImage();
    const input = {
      name: "lost",
      arch: "x86_64" as const,
      imageId: image.id,
      vcpus: 2,
      memoryMb: 256,
      diskGb: 1,
      networkId: null,
      allowEmulation: false,
      strategy: "spread" as const,
    };
    const { vm, task } = await createVm(input, { actor, clientIp: null }, { provision: false });
    expect((await db().host.findUniqueOrThrow({ where: { id: host.id } })).allocatedCpus).toBe(2);
    // Silent for longer than the heartbeat timeout: the host goes offline; the VM stays "creating",
    // its task decides (it used to turn "unknown", and failProvisioning then kept it placed and claimed).
    await markStaleHostsOffline(new Date(Date.now() + 10 * 60_000));
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).status).toBe("creating");

    expect(await failProvisioning(task.id, vm.id, "the agent went away")).toBe(true);
    const row = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect([row.status, row.hostId, row.lastError, row.generation]).toEqual(["error", null, "the agent went away", 2]);
    const h = await db().host.findUniqueOrThrow({ where: { id: host.id } });
    expect([h.allocatedCpus, h.allocatedMemoryMb, h.allocatedDiskGb]).toEqual([0, 0, 0]);

    // The agent comes back with the copy it created anyway (the spec's generation 1): evict it.
    const copy: VmStatus = {
      id: vm.id,
      name: "lost",
      arch: "x86_64",
      powerState: "running",
      emulated: true,
      accel: "tcg",
      vcpus: 2,
      memoryMb: 256,
      generation: 1,
    };
    const res = await recordHeartbeat(host.id, { usage, vms: [copy] } as never);
    expect(res.evict).toEqual([{ id: vm.id, generation: 2 }]);
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).status).toBe("error");
  });
});
