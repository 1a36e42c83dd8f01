// Seeds the e2e database directly (real SQLite, the file the running console uses) with a large
// mixed fleet, so list behaviour is tested at 10,000 rows. Creating VMs through the API belongs to
// the scheduler tests; this is bulk test data only.
import Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { E2E_DATA_DIR } from "./paths";

export const E2E_DB = resolve(E2E_DATA_DIR, "polyarch.db");
const now = () => new Date().toISOString().replace("Z", "+00:00");

export type SeedResult = { vms: number; vmsByArch: Record<string, number>; hosts: number };

export function seedFleet(vmCount = 10_000): SeedResult {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    // Playwright re-runs beforeAll in a new worker after a failure: seed once.
    const existing = db
      .prepare(`SELECT arch, COUNT(*) AS n FROM "Vm" WHERE id LIKE 'seed-vm-%' GROUP BY arch`)
      .all() as { arch: string; n: number }[];
    if (existing.length > 0) {
      const byArch = Object.fromEntries(existing.map((r) => [r.arch, r.n]));
      return {
        vms: existing.reduce((a, r) => a + r.n, 0),
        vmsByArch: { x86_64: byArch.x86_64 ?? 0, aarch64: byArch.aarch64 ?? 0 },
        hosts: 4,
      };
    }
    const ts = now();
    const hostIns = db.prepare(
      `INSERT INTO "Host" (id, name, arch, status, adminState, cpuModel, cpuCount, memoryMb, diskGb, ` +
        `nativeArches, emulatedArches, lastHeartbeatAt, createdAt, updatedAt) ` +
        `VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    const hosts = [
      ["seed-x86-a", "x86_64", "online", "enabled", "Intel Xeon Gold 6338"],
      ["seed-x86-b", "x86_64", "offline", "enabled", "AMD EPYC 7763"],
      ["seed-arm-a", "aarch64", "online", "enabled", "HiSilicon TaiShan-v110 (Kunpeng 920)"],
      ["seed-arm-b", "aarch64", "online", "maintenance", "Phytium FTC663"],
    ] as const;
    const hostIds: Record<string, string[]> = { x86_64: [], aarch64: [] };
    for (const [name, arch, status, adminState, cpu] of hosts) {
      const id = `seed-${randomUUID()}`;
      hostIds[arch]!.push(id);
      hostIns.run(
        id,
        name,
        arch,
        status,
        adminState,
        cpu,
        64,
        262144,
        4000,
        JSON.stringify([arch]),
        JSON.stringify([arch === "x86_64" ? "aarch64" : "x86_64"]),
        ts,
        ts,
        ts,
      );
    }
    const imgIns = db.prepare(
      `INSERT INTO "Image" (id, name, family, arch, format, status, sizeBytes, createdAt, updatedAt) VALUES (?,?,?,?,?,?,?,?,?)`,
    );
    for (const arch of ["x86_64", "aarch64"])
      imgIns.run(`seed-img-${arch}`, `debian-12-${arch}`, "debian-12", arch, "qcow2", "ready", 2147483648, ts, ts);
    const vmIns = db.prepare(
      `INSERT INTO "Vm" (id, name, arch, vcpus, memoryMb, diskGb, imageId, hostId, status, powerState, emulated, createdAt, updatedAt) ` +
        `VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    const statuses = ["running", "running", "running", "stopped", "error"];
    const byArch: Record<string, number> = { x86_64: 0, aarch64: 0 };
    db.transaction(() => {
      for (let i = 1; i <= vmCount; i++) {
        const arch = i % 3 === 0 ? "aarch64" : "x86_64";
        byArch[arch]!++;
        const status = statuses[i % statuses.length]!;
        vmIns.run(
          `seed-vm-${i}`,
          `vm-${String(i).padStart(5, "0")}`,
          arch,
          1 + (i % 8),
          512 * (1 + (i % 8)),
          10,
          `seed-img-${arch}`,
          hostIds[arch]![i % 2]!,
          status,
          status === "running" ? "running" : "shutoff",
          0,
          ts,
          ts,
        );
      }
    })();
    return { vms: vmCount, vmsByArch: byArch, hosts: hosts.length };
  } finally {
    db.close();
  }
}

export function setVmStatus(id: string, status: string) {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    db.prepare(`UPDATE "Vm" SET status = ?, updatedAt = ? WHERE id = ?`).run(status, now(), id);
  } finally {
    db.close();
  }
}
