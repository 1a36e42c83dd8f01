import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import type { Actor } from "../platform";
import {
  allocateNic,
  createNetwork,
  deleteNetwork,
  getNetwork,
  listNetworks,
  nicSpecsFor,
  releaseNics,
  updateNetwork,
} from "./networks";
import { createNetworkSchema, networkDtoSchema, networkListQuery, updateNetworkSchema } from "../../schemas/networks";
import { toJsonSafe } from "../platform";
import { nicSpecSchema } from "../../schemas/agent-api";

// MACs come from crypto.randomBytes; a test can queue fixed bytes to force a collision.
const forcedBytes: number[][] = [];
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return {
    ...actual,
    randomBytes: (n: number) =>
      forcedBytes.length > 0 && n === 3 ? Buffer.from(forcedBytes.shift()!) : actual.randomBytes(n),
  };
});

const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };
const who = { actor: admin, clientIp: "127.0.0.1" };

const net = (input: Record<string, unknown>) => createNetwork(createNetworkSchema.parse(input), who);
const vm = (name: string) => db().vm.create({ data: { name, arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1 } });

describe.each(PROVIDERS)("networks on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("creates, lists with usage and audits; refuses duplicate name, duplicate VLAN and overlapping CIDRs naming the other network", async () => {
    const lan = await net({ name: "lan", vlanId: 100, cidr: "10.0.0.0/24", gateway: "10.0.0.1" });
    expect(lan).toMatchObject({
      name: "lan",
      vlanId: 100,
      poolStart: "10.0.0.1",
      poolEnd: "10.0.0.254",
      poolSize: 253,
      usedAddresses: 0,
      freeAddresses: 253,
      prefixLength: 24,
    });

    await expect(net({ name: "lan", vlanId: 101, cidr: "10.1.0.0/24", gateway: "10.1.0.1" })).rejects.toMatchObject({
      code: "conflict",
      message: "A network named lan already exists.",
    });
    await expect(net({ name: "lan2", vlanId: 100, cidr: "10.1.0.0/24", gateway: "10.1.0.1" })).rejects.toMatchObject({
      code: "conflict",
      message: "VLAN 100 is already used by network lan.",
    });
    await expect(net({ name: "big", vlanId: 102, cidr: "10.0.0.0/16", gateway: "10.0.9.1" })).rejects.toMatchObject({
      code: "conflict",
      message: "10.0.0.0/16 overlaps network lan (10.0.0.0/24).",
    });
    await expect(
      net({ name: "small", vlanId: 103, cidr: "10.0.0.128/25", gateway: "10.0.0.129" }),
    ).rejects.toMatchObject({ code: "conflict", message: expect.stringContaining("overlaps network lan") });
    await net({
      name: "dmz",
      vlanId: 200,
      cidr: "10.0.1.0/28",
      gateway: "10.0.1.1",
      poolStart: "10.0.1.2",
      poolEnd: "10.0.1.11",
    });

    const list = await listNetworks(networkListQuery.parse({ sort: "vlanId", dir: "desc" }), admin);
    expect(list.total).toBe(2);
    expect(list.items.map((n) => n.name)).toEqual(["dmz", "lan"]);
    expect(list.items[0]).toMatchObject({ poolSize: 10, freeAddresses: 10 });
    expect((await listNetworks(networkListQuery.parse({ q: "dm" }), admin)).items.map((n) => n.name)).toEqual(["dmz"]);
    // What the API sends matches the documented response shape exactly.
    for (const item of list.items) expect(networkDtoSchema.strict().parse(toJsonSafe(item))).toEqual(toJsonSafe(item));

    const audit = await db().auditEvent.findMany({
      where: { action: "network.create" },
      orderBy: { createdAt: "asc" },
    });
    expect(audit.filter((a) => a.result === "success")).toHaveLength(2);
    expect(audit.filter((a) => a.result === "error")).toHaveLength(4);
    expect(audit.find((a) => a.result === "error")?.details).toContain("already exists");
  });

  it("concurrent creates of overlapping CIDRs: exactly one wins, the others are told which network they overlap", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        net({
          name: `race-${i}`,
          vlanId: 300 + i,
          cidr: i % 2 ? "10.40.0.0/24" : "10.40.0.0/16",
          gateway: "10.40.0.1",
        }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok).toHaveLength(1);
    for (const r of results)
      if (r.status === "rejected")
        expect(r.reason).toMatchObject({
          code: "conflict",
          message: expect.stringMatching(/overlaps network race-\d/),
        });
    expect(await db().network.count()).toBe(1);
  });

  it("bad input never reaches the database: VLAN outside 1–4094, gateway outside the CIDR, pool out of order", () => {
    const r = createNetworkSchema.safeParse({
      name: "x",
      vlanId: 5000,
      cidr: "10.0.0.0/24",
      gateway: "10.0.1.1",
      poolStart: "10.0.0.9",
      poolEnd: "10.0.0.3",
    });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message)).toEqual([
      "VLAN must be between 1 and 4094",
      "gateway 10.0.1.1 is outside 10.0.0.0/24",
      "pool end 10.0.0.3 is before pool start 10.0.0.9",
    ]);
  });

  it("allocates the lowest free address with a unique MAC, gives the agent its NIC specs, and releases them", async () => {
    const lan = await net({ name: "lan", vlanId: 42, cidr: "192.168.5.0/24", gateway: "192.168.5.1" });
    const a = await vm("a");
    const b = await vm("b");
    const nicA = await db().$transaction((tx) => allocateNic(tx, { vmId: a.id, networkId: lan.id, position: 0 }));
    expect(nicA).toMatchObject({
      ip: "192.168.5.2",
      vlanId: 42,
      prefixLength: 24,
      gateway: "192.168.5.1",
      mac: expect.stringMatching(/^52:54:00(:[0-9a-f]{2}){3}$/),
    });
    const nicB = await db().$transaction((tx) => allocateNic(tx, { vmId: b.id, networkId: lan.id, position: 0 }));
    expect(nicB.ip).toBe("192.168.5.3");

    const specs = await nicSpecsFor(a.id);
    expect(specs).toEqual([
      { id: nicA.id, mac: nicA.mac, vlan: 42, ip: "192.168.5.2", prefixLength: 24, gateway: "192.168.5.1" },
    ]);
    for (const s of specs) expect(nicSpecSchema.parse(s)).toEqual(s);

    expect(await getNetwork(lan.id, admin)).toMatchObject({ usedAddresses: 2, freeAddresses: 251, vmCount: 2 });
    expect(await db().$transaction((tx) => releaseNics(tx, a.id))).toBe(1);
    // The freed address is the lowest again, so it is handed out next.
    const c = await vm("c");
    expect((await db().$transaction((tx) => allocateNic(tx, { vmId: c.id, networkId: lan.id, position: 0 }))).ip).toBe(
      "192.168.5.2",
    );
  });

  it("a MAC collision is retried with new random bytes, inside the caller's transaction", async () => {
    const lan = await net({ name: "lan", vlanId: 42, cidr: "192.168.5.0/24", gateway: "192.168.5.1" });
    const a = await vm("a");
    const b = await vm("b");
    forcedBytes.push([1, 2, 3]);
    expect((await db().$transaction((tx) => allocateNic(tx, { vmId: a.id, networkId: lan.id, position: 0 }))).mac).toBe(
      "52:54:00:01:02:03",
    );
    forcedBytes.push([1, 2, 3], [1, 2, 3], [9, 9, 9]);
    const nic = await db().$transaction(async (tx) => {
      await tx.vm.update({ where: { id: b.id }, data: { status: "creating" } });
      return allocateNic(tx, { vmId: b.id, networkId: lan.id, position: 0 });
    });
    expect(nic).toMatchObject({ mac: "52:54:00:09:09:09", ip: "192.168.5.3" });
    // The caller's earlier write survived the failed inserts (the savepoint kept the transaction usable).
    expect((await db().vm.findUniqueOrThrow({ where: { id: b.id } })).status).toBe("creating");
    expect(forcedBytes).toEqual([]);
  });

  it("a NIC rolls back with the caller's transaction", async () => {
    const lan = await net({ name: "lan", vlanId: 42, cidr: "192.168.5.0/24", gateway: "192.168.5.1" });
    const a = await vm("a");
    await expect(
      db().$transaction(async (tx) => {
        await allocateNic(tx, { vmId: a.id, networkId: lan.id, position: 0 });
        throw new Error("placement failed later");
      }),
    ).rejects.toThrow("placement failed later");
    expect(await db().nic.count()).toBe(0);
  });

  it("20 concurrent allocations on a /28 pool of 10 addresses: exactly 10 succeed with distinct IPs and MACs, the rest get the exhausted error", async () => {
    const small = await net({
      name: "small",
      vlanId: 7,
      cidr: "10.9.0.0/28",
      gateway: "10.9.0.1",
      poolStart: "10.9.0.2",
      poolEnd: "10.9.0.11",
    });
    expect(small.poolSize).toBe(10);
    const vms = await Promise.all(Array.from({ length: 20 }, (_, i) => vm(`par-${i}`)));
    const results = await Promise.allSettled(
      vms.map((v) =>
        db().$transaction((tx) => allocateNic(tx, { vmId: v.id, networkId: small.id, position: 0 }), {
          maxWait: 60_000,
          timeout: 60_000,
        }),
      ),
    );
    const ok = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(10);
    expect(new Set(ok.map((n) => n.ip)).size).toBe(10);
    expect(new Set(ok.map((n) => n.mac)).size).toBe(10);
    expect(ok.map((n) => n.ip).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `10.9.0.${i + 2}`).sort());
    expect(failed).toHaveLength(10);
    for (const f of failed) {
      expect(f.reason).toMatchObject({
        code: "conflict",
        message: "Network small has no free addresses (pool 10.9.0.2–10.9.0.11, 10 in use).",
      });
    }
    const rows = await db().nic.findMany({ where: { networkId: small.id } });
    expect(rows).toHaveLength(10);
    expect(new Set(rows.map((r) => r.ip)).size).toBe(10);
    expect(await getNetwork(small.id, admin)).toMatchObject({ usedAddresses: 10, freeAddresses: 0, vmCount: 10 });
  });

  it("concurrent allocations that also insert other rows (like the VM create flow) stay consistent across two networks", async () => {
    const n1 = await net({ name: "n1", vlanId: 11, cidr: "10.11.0.0/24", gateway: "10.11.0.1" });
    const n2 = await net({ name: "n2", vlanId: 12, cidr: "10.12.0.0/24", gateway: "10.12.0.1" });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        db().$transaction(
          async (tx) => {
            const v = await tx.vm.create({
              data: { name: `two-${i}`, arch: "aarch64", vcpus: 1, memoryMb: 128, diskGb: 1 },
            });
            const first = await allocateNic(tx, { vmId: v.id, networkId: n1.id, position: 0 });
            const second = await allocateNic(tx, { vmId: v.id, networkId: n2.id, position: 1 });
            return { first, second, specs: await nicSpecsFor(v.id, tx) };
          },
          { maxWait: 60_000, timeout: 60_000 },
        ),
      ),
    );
    expect(new Set(results.map((r) => r.first.ip)).size).toBe(12);
    expect(new Set(results.map((r) => r.second.ip)).size).toBe(12);
    expect(new Set(results.flatMap((r) => [r.first.mac, r.second.mac])).size).toBe(24);
    for (const r of results) expect(r.specs.map((s) => s.vlan)).toEqual([11, 12]);
  });

  it("refuses to delete a network in use (naming how many VMs) and deletes it once free; audits both", async () => {
    const lan = await net({ name: "lan", vlanId: 5, cidr: "10.5.0.0/24", gateway: "10.5.0.1" });
    const a = await vm("a");
    const b = await vm("b");
    await db().$transaction(async (tx) => {
      await allocateNic(tx, { vmId: a.id, networkId: lan.id, position: 0 });
      await allocateNic(tx, { vmId: a.id, networkId: lan.id, position: 1 });
      await allocateNic(tx, { vmId: b.id, networkId: lan.id, position: 0 });
    });
    await expect(deleteNetwork(lan.id, who)).rejects.toMatchObject({
      code: "conflict",
      message: "Network lan is in use by 2 VM(s) (3 NIC(s)); delete or detach them first.",
    });
    expect(await db().network.count()).toBe(1);
    await db().$transaction(async (tx) => {
      await releaseNics(tx, a.id);
      await releaseNics(tx, b.id);
    });
    expect(await deleteNetwork(lan.id, who)).toEqual({ id: lan.id, deleted: true });
    await expect(deleteNetwork(lan.id, who)).rejects.toMatchObject({ code: "not_found" });
    const audit = await db().auditEvent.findMany({ where: { action: "network.delete" } });
    expect(audit.map((x) => x.result).sort()).toEqual(["error", "error", "success"]);
  });

  it("updates: name and pool while in use; not CIDR/VLAN/gateway, and never a pool that strands an allocated address", async () => {
    const lan = await net({ name: "lan", vlanId: 5, cidr: "10.5.0.0/24", gateway: "10.5.0.1" });
    await net({ name: "other", vlanId: 6, cidr: "10.6.0.0/24", gateway: "10.6.0.1" });
    const upd = (input: Record<string, unknown>) => updateNetwork(lan.id, updateNetworkSchema.parse(input), who);

    // Unused: anything may change; a new CIDR resets the pool to its default.
    expect(await upd({ cidr: "10.7.0.0/24", gateway: "10.7.0.1" })).toMatchObject({
      cidr: "10.7.0.0/24",
      poolStart: "10.7.0.1",
      poolEnd: "10.7.0.254",
    });
    await expect(upd({ cidr: "10.6.0.0/25", gateway: "10.6.0.1" })).rejects.toMatchObject({
      code: "conflict",
      message: "10.6.0.0/25 overlaps network other (10.6.0.0/24).",
    });
    await expect(upd({ vlanId: 6 })).rejects.toMatchObject({
      code: "conflict",
      message: "VLAN 6 is already used by network other.",
    });
    await expect(upd({ gateway: "10.8.0.1" })).rejects.toMatchObject({
      code: "invalid",
      message: expect.stringContaining("gateway 10.8.0.1 is outside 10.7.0.0/24"),
    });
    await expect(upd({ poolStart: "10.7.0.50", poolEnd: "10.7.0.20" })).rejects.toMatchObject({
      code: "invalid",
      message: expect.stringContaining("pool end 10.7.0.20 is before pool start 10.7.0.50"),
    });

    const a = await vm("a");
    const nic = await db().$transaction((tx) => allocateNic(tx, { vmId: a.id, networkId: lan.id, position: 0 }));
    expect(nic.ip).toBe("10.7.0.2");
    await expect(upd({ cidr: "10.8.0.0/24", gateway: "10.8.0.1" })).rejects.toMatchObject({
      code: "conflict",
      message:
        "Network lan is used by 1 NIC(s) on 1 VM(s); its cidr, gateway cannot change while it is in use (only its name and pool).",
    });
    await expect(upd({ vlanId: 9 })).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining("vlanId cannot change"),
    });
    await expect(upd({ poolStart: "10.7.0.10" })).rejects.toMatchObject({
      code: "conflict",
      message: "The new pool 10.7.0.10–10.7.0.254 leaves out 1 address(es) in use (10.7.0.2).",
    });
    expect(await upd({ name: "lan-renamed", poolEnd: "10.7.0.100" })).toMatchObject({
      name: "lan-renamed",
      poolStart: "10.7.0.1",
      poolEnd: "10.7.0.100",
      usedAddresses: 1,
      freeAddresses: 98,
    });
    // Same VLAN/CIDR as now is not a change.
    expect(await upd({ vlanId: 5, cidr: "10.7.0.0/24" })).toMatchObject({ vlanId: 5 });
  });

  it("an exhausted pool names the network, its pool and how many are in use; unknown networks are 404", async () => {
    const tiny = await net({ name: "tiny", vlanId: 30, cidr: "10.30.0.0/30", gateway: "10.30.0.1" });
    expect(tiny.poolSize).toBe(1);
    const a = await vm("a");
    expect((await db().$transaction((tx) => allocateNic(tx, { vmId: a.id, networkId: tiny.id, position: 0 }))).ip).toBe(
      "10.30.0.2",
    );
    await expect(
      db().$transaction((tx) => allocateNic(tx, { vmId: a.id, networkId: tiny.id, position: 1 })),
    ).rejects.toMatchObject({
      code: "conflict",
      message: "Network tiny has no free addresses (pool 10.30.0.1–10.30.0.2, 1 in use).",
    });
    await expect(
      db().$transaction((tx) => allocateNic(tx, { vmId: a.id, networkId: "nope", position: 0 })),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(getNetwork("nope", admin)).rejects.toMatchObject({ code: "not_found" });
  });
});
