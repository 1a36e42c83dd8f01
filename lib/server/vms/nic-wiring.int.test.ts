import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { createVm } from ".";
import { createNetwork, getNetwork } from "../networks";
import { createNetworkSchema } from "../../schemas/networks";
import type { Actor } from "../platform";
import { insertTestHost } from "../testing/rows";

const actor: Actor = { id: "u1", email: "op@t.test", name: "Op", role: "admin", via: "session" };
const who = { actor, clientIp: null };

describe.each(PROVIDERS)("wiring on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });
  it("12 parallel VM creates on a pool of 5: 5 VMs with distinct IPs, the rest fail with nothing left behind", async () => {
    await insertTestHost({ name: "h", cpuCount: 64 });
    const img = await db().image.create({
      data: { name: "img", arch: "x86_64", format: "kernel", status: "ready", minMemoryMb: 64, minDiskGb: 1 },
    });
    const net = await createNetwork(
      createNetworkSchema.parse({ name: "n", vlanId: 9, cidr: "10.1.1.0/29", gateway: "10.1.1.1" }),
      who,
    );
    const rs = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        createVm(
          {
            name: `v${i}`,
            arch: "x86_64",
            imageId: img.id,
            vcpus: 1,
            memoryMb: 128,
            diskGb: 1,
            networkId: net.id,
            allowEmulation: false,
            strategy: "spread",
          },
          who,
          { provision: false },
        ),
      ),
    );
    const ok = rs.filter((r) => r.status === "fulfilled");
    expect(ok).toHaveLength(5);
    for (const r of rs) if (r.status === "rejected") expect(r.reason.message).toMatch(/no free addresses/);
    expect(await db().vm.count()).toBe(5);
    const h = await db().host.findFirstOrThrow();
    expect(h.allocatedCpus).toBe(5);
    expect(new Set((await db().nic.findMany()).map((n) => n.ip)).size).toBe(5);
    expect(await getNetwork(net.id, actor)).toMatchObject({ freeAddresses: 0, vmCount: 5 });
  });
});
