// The committed SQL migrations work with the generated Prisma 7 clients and the real driver adapters:
// migrate a fresh database, then write and read a Host (and a relation) through the client.
// Needs the generated clients (`npm run db:generate`); PostgreSQL part needs POLYARCH_TEST_PG_URL.
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import { afterAll, describe, expect, it } from "vitest";
import { PrismaClient as PostgresClient } from "../lib/generated/postgres/client";
import { PrismaClient as SqliteClient } from "../lib/generated/sqlite/client";
import { freshPostgres, freshSqlite, testPgUrl, type TestDatabase } from "./test-db";

type AnyClient = InstanceType<typeof SqliteClient> | InstanceType<typeof PostgresClient>;

async function roundTrip(prisma: AnyClient) {
  const p = prisma as InstanceType<typeof SqliteClient>; // same models on both providers
  const host = await p.host.create({
    data: { name: "arm-01", arch: "aarch64", cpuCount: 8, memoryMb: 16384, diskGb: 200, nativeArches: '["aarch64"]' },
  });
  expect(host.id).toMatch(/^c[a-z0-9]{20,}$/); // cuid() from the client
  expect(host.status).toBe("offline"); // database default
  expect(host.cpuAllocationRatio).toBe(4);
  expect(host.createdAt).toBeInstanceOf(Date);

  await p.vm.create({ data: { name: "vm-1", arch: "aarch64", vcpus: 2, memoryMb: 1024, diskGb: 10, hostId: host.id } });
  const read = await p.host.findUniqueOrThrow({ where: { name: "arm-01" }, include: { vms: true } });
  expect(read.vms.map((v) => v.name)).toEqual(["vm-1"]);

  await expect(
    p.host.create({ data: { name: "arm-01", arch: "aarch64", cpuCount: 1, memoryMb: 1, diskGb: 1 } }),
  ).rejects.toMatchObject({
    code: "P2002", // unique constraint from the migration
  });

  // onDelete: SetNull on Vm.host
  await p.host.delete({ where: { id: host.id } });
  expect((await p.vm.findFirstOrThrow({ where: { name: "vm-1" } })).hostId).toBeNull();

  // BigInt columns survive the adapter
  const img = await p.image.create({
    data: { name: "debian", arch: "x86_64", format: "qcow2", sizeBytes: 5_000_000_000n },
  });
  expect((await p.image.findUniqueOrThrow({ where: { id: img.id } })).sizeBytes).toBe(5_000_000_000n);
}

describe("generated client + adapters on migrated databases", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("SQLite via @prisma/adapter-better-sqlite3", async () => {
    const db: TestDatabase = await freshSqlite();
    cleanups.push(() => db.drop());
    const prisma = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: db.url }) });
    cleanups.push(() => prisma.$disconnect());
    await roundTrip(prisma);
  });

  it.skipIf(!testPgUrl())("PostgreSQL via @prisma/adapter-pg (POLYARCH_TEST_PG_URL)", async () => {
    const db = (await freshPostgres())!;
    cleanups.push(() => db.drop());
    const prisma = new PostgresClient({ adapter: new PrismaPg({ connectionString: db.url }) });
    cleanups.push(() => prisma.$disconnect());
    await roundTrip(prisma);
  });
});
