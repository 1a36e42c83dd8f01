import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import type { HostFacts } from "../../schemas/agent-api";
import { BOUNDED_AUDIT_MAX_ADDRESSES, db } from "../platform";
import { authenticateHost, getJoinToken, markStaleHostsOffline, registerHost } from ".";
import { recordHeartbeat } from "../vms";

function facts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    hostname: "node-1",
    machineId: "machine-aaaaaaaa",
    arch: "aarch64",
    cpuCount: 8,
    cpuModel: "HiSilicon TaiShan-v110 (Kunpeng 920)",
    memoryMb: 16384,
    diskGb: 200,
    kvm: true,
    qemu: {
      version: "7.2.0",
      binaries: { aarch64: "/usr/bin/qemu-system-aarch64" },
      firmware: { aavmf: "/usr/share/AAVMF/AAVMF_CODE.fd" },
    },
    ovs: { available: true, version: "3.1.0", datapath: "netdev" },
    nativeArches: ["aarch64"],
    emulatedArches: ["x86_64"],
    maxVcpusNative: 8,
    maxVcpusEmulated: 8,
    agentVersion: "0.1.0",
    ...overrides,
  };
}

const bearer = (token: string) => new Request("http://x/", { headers: { authorization: `Bearer ${token}` } });

describe.each(PROVIDERS)("fleet on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("registers a node with the join token and keeps its identity when it registers again", async () => {
    const joinToken = await getJoinToken();
    const first = await registerHost({ joinToken, agentUrl: "http://127.0.0.1:7101", facts: facts() }, "127.0.0.1");
    const host = await db().host.findUniqueOrThrow({ where: { id: first.hostId } });
    expect(host.arch).toBe("aarch64");
    expect(host.status).toBe("online");
    expect(host.cpuModel).toContain("Kunpeng 920");
    // Only a hash of the host token is stored.
    expect(host.agentTokenHash).not.toContain(first.hostToken);
    expect((await authenticateHost(bearer(first.hostToken))).id).toBe(first.hostId);

    const again = await registerHost(
      { joinToken, agentUrl: "http://127.0.0.1:7102", facts: facts({ cpuCount: 16 }) },
      "127.0.0.1",
    );
    expect(again.hostId).toBe(first.hostId);
    expect(again.hostToken).not.toBe(first.hostToken);
    await expect(authenticateHost(bearer(first.hostToken))).rejects.toMatchObject({ code: "unauthenticated" });
    expect(await db().host.count()).toBe(1);
    expect((await db().host.findUniqueOrThrow({ where: { id: first.hostId } })).cpuCount).toBe(16);
  });

  it("refuses a wrong join token, creates nothing and audits the attempt", async () => {
    await expect(
      registerHost(
        { joinToken: "wrong-token-wrong-token", agentUrl: "http://127.0.0.1:7101", facts: facts() },
        "10.0.0.9",
      ),
    ).rejects.toMatchObject({ code: "unauthenticated" });
    expect(await db().host.count()).toBe(0);
    const audit = await db().auditEvent.findFirstOrThrow({ where: { action: "host.register" } });
    expect(audit.result).toBe("denied");
  });

  describe("failed registrations are audited with a bound", () => {
    // Only Date is faked (the database driver keeps its timers): every call lands in one minute.
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(new Date("2026-03-01T10:00:30Z"));
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    const wrong = (i: number) => ({
      joinToken: `wrong-token-wrong-token-${i}`,
      agentUrl: "http://127.0.0.1:7101",
      facts: facts({ hostname: `probe-${i}` }),
    });
    const denied = () =>
      db().auditEvent.findMany({ where: { action: "host.register", result: "denied" }, orderBy: { id: "asc" } });
    const attempts = (details: string | null) => JSON.parse(details ?? "{}").attempts as number;

    it("50 bad calls from one address: one row that counts all 50", async () => {
      // Five waves of ten at once, as a scripted attacker would send them.
      for (let wave = 0; wave < 5; wave++) {
        const calls = Array.from({ length: 10 }, (_, i) => registerHost(wrong(wave * 10 + i), "203.0.113.7"));
        for (const r of await Promise.allSettled(calls)) {
          expect(r.status).toBe("rejected");
          expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "unauthenticated" });
        }
      }
      const rows = await denied();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.clientIp).toBe("203.0.113.7");
      expect(JSON.parse(rows[0]!.details!)).toMatchObject({ attempts: 50, reason: "wrong join token" });
      expect(await db().host.count()).toBe(0);

      // The next minute starts a new row.
      vi.setSystemTime(new Date("2026-03-01T10:01:30Z"));
      await expect(registerHost(wrong(99), "203.0.113.7")).rejects.toMatchObject({ code: "unauthenticated" });
      expect((await denied()).map((r) => attempts(r.details))).toEqual(expect.arrayContaining([50, 1]));
      expect(await db().auditEvent.count()).toBe(2);
    });

    it("50 bad calls from 50 addresses (X-Forwarded-For is the caller's choice): still a bounded number of rows", async () => {
      for (let i = 0; i < 50; i++)
        await expect(registerHost(wrong(i), `198.51.100.${i + 1}`)).rejects.toMatchObject({ code: "unauthenticated" });
      const rows = await denied();
      expect(rows).toHaveLength(BOUNDED_AUDIT_MAX_ADDRESSES + 1);
      const shared = rows.find((r) => r.clientIp === null)!;
      expect(attempts(shared.details)).toBe(50 - BOUNDED_AUDIT_MAX_ADDRESSES);
      expect(rows.reduce((sum, r) => sum + attempts(r.details), 0)).toBe(50);
    });
  });

  it("marks silent hosts offline and their VMs unknown, never deleting them", async () => {
    const { hostId, hostToken } = await registerHost(
      { joinToken: await getJoinToken(), agentUrl: "http://127.0.0.1:7101", facts: facts() },
      null,
    );
    const vm = await db().vm.create({
      data: {
        name: "web-1",
        arch: "aarch64",
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        hostId,
        status: "running",
        powerState: "running",
      },
    });
    await recordHeartbeat(hostId, {
      usage: { cpuPct: 3, memoryUsedMb: 100, diskUsedGb: 1, loadAvg: [0.1] },
      vms: [
        {
          id: vm.id,
          name: "web-1",
          arch: "aarch64",
          powerState: "shutoff",
          emulated: false,
          accel: "kvm",
          vcpus: 1,
          memoryMb: 256,
        },
      ],
    });
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).status).toBe("stopped");

    expect(await markStaleHostsOffline(new Date(Date.now() + 10 * 60_000))).toBe(1);
    expect((await db().host.findUniqueOrThrow({ where: { id: hostId } })).status).toBe("offline");
    const after = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect(after.status).toBe("unknown");
    // A heartbeat brings the host back.
    await recordHeartbeat((await authenticateHost(bearer(hostToken))).id, {
      usage: { cpuPct: 1, memoryUsedMb: 1, diskUsedGb: 1, loadAvg: [] },
      vms: [],
    });
    expect((await db().host.findUniqueOrThrow({ where: { id: hostId } })).status).toBe("online");
  });
});
