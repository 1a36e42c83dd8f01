// Seeds what the a11y and layout specs need straight into the e2e database (real SQLite, the file the
// running console uses), as e2e/seed.ts does: a host, a ready image and VMs on that host — records
// only, no QEMU and no agent (hosts join through agents, which these specs do not need). Idempotent,
// so a retried worker or the other spec seeding first is harmless; each spec removes them
// afterwards (removeA11yRecords), as other specs count VMs and hosts. Networks and projects the specs
// create through the API.
import Database from "better-sqlite3";
import { E2E_DB } from "./seed";

export const A11Y_HOST_ID = "a11y-host-x86";
export const A11Y_IMAGE_ID = "a11y-img-x86";
export const A11Y_VM_ID = "a11y-vm-01";
export const A11Y_VM_PREFIX = "a11y-vm-";
// Long single-word values as users bring them (a path in an error, an e-mail, a project name): pages must
// wrap them at 390 px instead of scrolling sideways (e2e/layout.spec.ts).
const A11Y_TASK_ID = "a11y-task-failed";
const A11Y_PROJECT_ID = "a11y-project";
const A11Y_USER_ID = "a11y-member";
const LONG_ERROR =
  "Host a11y-x86-host: qemu-img: /var/lib/polyarch/images/cache/a11y-debian-12-x86_64.qcow2.partial-download-0123456789abcdef: No space left on device";

/** Every console page an admin reaches from the sidebar, detail pages on the seeded records (a11y and layout specs). */
export const CONSOLE_PAGES = [
  "/",
  "/hosts",
  `/hosts/${A11Y_HOST_ID}`,
  "/images",
  `/images/${A11Y_IMAGE_ID}`,
  "/vms",
  `/vms/${A11Y_VM_ID}`,
  "/volumes",
  "/networks",
  "/security-groups",
  "/floating-ips",
  "/events",
  "/users",
  "/projects",
  "/instance-types",
  "/audit",
  "/account",
];

export function seedA11yRecords(vmCount = 60) {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  const ts = new Date().toISOString().replace("Z", "+00:00");
  try {
    db.transaction(() => {
      db.prepare(
        `INSERT OR IGNORE INTO "Host" (id, name, arch, status, adminState, cpuModel, cpuCount, memoryMb, diskGb, ` +
          `nativeArches, emulatedArches, lastHeartbeatAt, createdAt, updatedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      ).run(
        A11Y_HOST_ID,
        "a11y-x86-host",
        "x86_64",
        "online",
        "enabled",
        "Intel Xeon Gold 6338",
        16,
        65536,
        500,
        JSON.stringify(["x86_64"]),
        JSON.stringify(["aarch64"]),
        ts,
        ts,
        ts,
      );
      db.prepare(
        `INSERT OR IGNORE INTO "Image" (id, name, family, arch, format, status, sizeBytes, visibility, createdAt, updatedAt) ` +
          `VALUES (?,?,?,?,?,?,?,?,?,?)`,
      ).run(
        A11Y_IMAGE_ID,
        "a11y-debian-12-x86_64",
        "debian-12",
        "x86_64",
        "qcow2",
        "ready",
        2147483648,
        "public",
        ts,
        ts,
      );
      const vm = db.prepare(
        `INSERT OR IGNORE INTO "Vm" (id, name, arch, vcpus, memoryMb, diskGb, imageId, hostId, status, powerState, emulated, ` +
          `createdAt, updatedAt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
      );
      for (let i = 1; i <= vmCount; i++) {
        const n = String(i).padStart(2, "0");
        const running = i % 4 !== 0;
        vm.run(
          `${A11Y_VM_PREFIX}${n}`,
          `${A11Y_VM_PREFIX}${n}`,
          "x86_64",
          1,
          512,
          10,
          A11Y_IMAGE_ID,
          A11Y_HOST_ID,
          running ? "running" : "stopped",
          running ? "running" : "shutoff",
          0,
          ts,
          ts,
        );
      }
      db.prepare(
        `INSERT OR IGNORE INTO "Task" (id, kind, status, vmId, hostId, error, createdAt, startedAt, finishedAt) VALUES (?,?,?,?,?,?,?,?,?)`,
      ).run(A11Y_TASK_ID, "vm.create", "failed", `${A11Y_VM_PREFIX}01`, A11Y_HOST_ID, LONG_ERROR, ts, ts, ts);
      db.prepare(
        `INSERT OR IGNORE INTO "user" (id, name, email, emailVerified, role, createdAt, updatedAt) VALUES (?,?,?,?,?,?,?)`,
      ).run(
        A11Y_USER_ID,
        "A11y Member",
        "a11y.member.with.a.long.address@example-organisation.test",
        1,
        "viewer",
        ts,
        ts,
      );
      db.prepare(`INSERT OR IGNORE INTO "Project" (id, name, createdAt, updatedAt) VALUES (?,?,?,?)`).run(
        A11Y_PROJECT_ID,
        "a11y-project-with-a-rather-long-name-for-a-narrow-screen",
        ts,
        ts,
      );
      db.prepare(`INSERT OR IGNORE INTO "ProjectMember" (projectId, userId, createdAt) VALUES (?,?,?)`).run(
        A11Y_PROJECT_ID,
        A11Y_USER_ID,
        ts,
      );
    })();
  } finally {
    db.close();
  }
}

/** Removes what seedA11yRecords made (the task, project and user, then the VMs; rows hanging off them go by the schema's cascades). */
export function removeA11yRecords() {
  const db = new Database(E2E_DB, { timeout: 10_000 });
  try {
    db.transaction(() => {
      db.prepare(`DELETE FROM "Task" WHERE id = ?`).run(A11Y_TASK_ID);
      db.prepare(`DELETE FROM "ProjectMember" WHERE projectId = ?`).run(A11Y_PROJECT_ID);
      db.prepare(`DELETE FROM "Project" WHERE id = ?`).run(A11Y_PROJECT_ID);
      db.prepare(`DELETE FROM "user" WHERE id = ?`).run(A11Y_USER_ID);
      db.prepare(`DELETE FROM "Vm" WHERE id LIKE ?`).run(`${A11Y_VM_PREFIX}%`);
      db.prepare(`DELETE FROM "Image" WHERE id = ?`).run(A11Y_IMAGE_ID);
      db.prepare(`DELETE FROM "Host" WHERE id = ?`).run(A11Y_HOST_ID);
    })();
  } finally {
    db.close();
  }
}
