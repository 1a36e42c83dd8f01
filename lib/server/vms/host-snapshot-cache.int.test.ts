// The in-memory fleet copy (host-snapshot-cache.ts): reused while the database's stamp stands still,
// refreshed when anyone changes a host, patched by this process's own claims — and, when it is stale
// in a way the stamp cannot see, never the cause of an overcommit or of a false "no room".
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Prisma } from "../../generated/sqlite/client";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { fleetSnapshots } from "./host-snapshot-cache";
import { placeAndRecord, previewPlacement } from "./placement";

async function host(name: string, extra: Record<string, unknown> = {}) {
  return db().host.create({
    data: {
      name,
      arch: "x86_64",
      cpuCount: 4,
      memoryMb: 8192,
      diskGb: 100,
      status: "online",
      cpuAllocationRatio: 1,
      ramAllocationRatio: 1,
      nativeArches: JSON.stringify(["x86_64"]),
      emulatedArches: "[]",
      maxVcpusNative: 4,
      agentUrl: "http://127.0.0.1:9",
      ...extra,
    },
  });
}

const req = { arch: "x86_64" as const, vcpus: 1, memoryMb: 1024, diskGb: 10, allowEmulation: false };
const place = () => placeAndRecord(req, async () => true);
const allocated = async (id: string) => (await db().host.findUniqueOrThrow({ where: { id } })).allocatedCpus;

/** What another controller's claim does: the same raw UPDATE, which does not touch updatedAt. */
const rawAllocate = (id: string, cpus: number, memoryMb: number) =>
  db().$executeRaw(Prisma.sql`
    UPDATE "Host" SET "allocatedCpus" = "allocatedCpus" + ${cpus}, "allocatedMemoryMb" = "allocatedMemoryMb" + ${memoryMb}
    WHERE "id" = ${id}`);

describe.each(PROVIDERS)("host snapshot cache on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("reuses the copy while nothing changes, and sees every kind of change on the next call", async () => {
    const a = await host("a");
    const first = await fleetSnapshots();
    expect(await fleetSnapshots()).toBe(first);

    await db().host.update({ where: { id: a.id }, data: { adminState: "maintenance" } }); // bumps updatedAt
    const afterAdmin = await fleetSnapshots();
    expect(afterAdmin).not.toBe(first);
    expect(afterAdmin[0]!.adminState).toBe("maintenance");

    await rawAllocate(a.id, 2, 0); // no updatedAt: the summed allocations move
    expect((await fleetSnapshots())[0]!.allocatedCpus).toBe(2);

    await host("b", { approval: "pending" }); // not a candidate at all
    expect((await fleetSnapshots()).map((h) => h.name)).toEqual(["a"]);
    await db().host.update({ where: { name: "b" }, data: { approval: "approved" } });
    expect((await fleetSnapshots()).map((h) => h.name)).toEqual(["a", "b"]);

    await db().host.delete({ where: { name: "b" } });
    expect((await fleetSnapshots()).map((h) => h.name)).toEqual(["a"]);
  });

  it("applies this process's own claims to the copy without reading the fleet again", async () => {
    const a = await host("a");
    const before = await fleetSnapshots();
    await place();
    const after = await fleetSnapshots();
    expect(after).toBe(before); // same copy: the stamp moved exactly by our claim
    expect(after[0]!.allocatedCpus).toBe(1);
    expect(await allocated(a.id)).toBe(1);
  });

  it("a copy stale towards 'free' costs a retry, never an overcommit", async () => {
    const a = await host("a");
    const b = await host("b", { cpuCount: 8, maxVcpusNative: 8, memoryMb: 16384 });
    await rawAllocate(b.id, 4, 8192); // b half full: a and b have the same room, a wins on the name
    await fleetSnapshots();
    // Another controller moves 4 vCPUs / 8 GiB from b to a: the sums stay, updatedAt too — a change
    // the stamp cannot see, so the copy still says a is empty.
    await db().$transaction([rawAllocate(a.id, 4, 8192), rawAllocate(b.id, -4, -8192)]);
    expect((await fleetSnapshots()).find((h) => h.name === "a")!.allocatedCpus).toBe(0); // stale
    const placed = await place(); // the claim on a fails in the database; re-read; b
    expect(placed.hostName).toBe("b");
    expect(await allocated(a.id)).toBe(4);
    expect(await allocated(b.id)).toBe(1);
  });

  it("a copy stale towards 'full' never answers 'no room' while the database has room", async () => {
    const a = await host("a");
    const b = await host("b");
    const c = await host("c", { adminState: "maintenance" }); // approved: its allocation counts in the stamp
    await db().$transaction([rawAllocate(a.id, 4, 8192), rawAllocate(b.id, 4, 8192)]);
    await fleetSnapshots();
    // Invisible again: a is freed and c takes the same amounts (say a VM migrated there).
    await db().$transaction([rawAllocate(a.id, -4, -8192), rawAllocate(c.id, 4, 8192)]);
    const stale = await fleetSnapshots();
    expect(stale.map((h) => [h.name, h.allocatedCpus])).toEqual([
      ["a", 4], // stale: a and b look full, and c is in maintenance
      ["b", 4],
      ["c", 0],
    ]);
    expect((await previewPlacement(req)).chosen?.name).toBe("a");
    const placed = await place();
    expect(placed.hostName).toBe("a");
    expect(await allocated(a.id)).toBe(1);
  });
});
