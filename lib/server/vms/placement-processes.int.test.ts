import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";

const run = promisify(execFile);

// Two controller processes on one database: the claim must hold across processes, not only
// across requests of one process. SQLite is included too (one file, two writers).
describe.each(PROVIDERS)("two controller processes placing on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await useFreshDatabase(provider);
  });
  afterAll(async () => {
    await releaseDatabase(database);
  });

  it("24 creates from two processes against room for 10: exactly 10 succeed, no overcommit", async () => {
    const host = await db().host.create({
      data: {
        name: "arm-1",
        arch: "aarch64",
        cpuCount: 10,
        memoryMb: 65536,
        diskGb: 1000,
        status: "online",
        cpuAllocationRatio: 1,
        ramAllocationRatio: 1,
        nativeArches: '["aarch64"]',
        emulatedArches: "[]",
        agentUrl: "http://127.0.0.1:9", // placement needs an agent address; nothing is provisioned here
      },
    });
    const image = await db().image.create({
      data: { name: "img", arch: "aarch64", format: "kernel", status: "ready" },
    });
    const env = {
      ...process.env,
      DATABASE_URL: database!.url,
      POLYARCH_DATA_DIR: mkdtempSync(join(tmpdir(), "polyarch-worker-")),
    };
    const worker = (prefix: string) =>
      run(
        process.execPath,
        [
          "--conditions=react-server",
          "--import",
          "tsx",
          "lib/server/testing/place-worker.ts",
          image.id,
          "aarch64",
          "12",
          prefix,
        ],
        { env, timeout: 120_000 },
      ).then(
        (r) => JSON.parse(r.stdout.trim().split("\n").pop()!) as { ok: number; conflict: number; other: string[] },
      );
    const [a, b] = await Promise.all([worker("a"), worker("b")]);
    expect(a.other).toEqual([]);
    expect(b.other).toEqual([]);
    expect(a.ok + b.ok).toBe(10);
    expect(a.conflict + b.conflict).toBe(14);
    const after = await db().host.findUniqueOrThrow({ where: { id: host.id } });
    expect(after.allocatedCpus).toBe(10);
    expect(await db().vm.count()).toBe(10);
  }, 180_000);
});
