// Capture to image through the real route handler, on SQLite and PostgreSQL: the disk is a real
// qcow2 made here with qemu-img (data written at a known offset), streamed by an agent stand-in
// over real HTTPS with a certificate from the controller's CA (lib/server/testing/snapshot-agent.ts
// — the real agent's disk export is tested on the agent side and end to end in
// e2e/storage-snapshots.spec.ts). The image is stored and validated by the image service; refused
// captures (running VM, taken family, a stream cut short, bytes that are no qcow2) leave no row
// and no file. Also: two snapshots racing for the last GiB of a host, exactly one wins.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { createToken } from "../identity";
import { hostTokenFor } from "../hosts";
import { imagesDir, insideImageStore } from "../images";
import { addUserToProjects, createProject } from "../projects";
import { insertTestHost } from "../testing/rows";
import { startStubAgent, type StubAgent } from "../testing/snapshot-agent";
import { which } from "../../../agent/src/host";
import { POST as createRoute } from "../../../app/api/v1/vms/[id]/snapshots/route";
import { POST as captureRoute } from "../../../app/api/v1/vms/[id]/capture/route";

const haveQemuImg = Boolean(which("qemu-img"));
const MARKER = "polyarch-capture-marker-0123456789";
const MARKER_OFFSET = 5 * 1024 * 1024;

type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;

async function post(handler: Handler, path: string, params: Record<string, string>, token: string, body: unknown) {
  const res = await handler(
    new Request(`http://localhost:3000${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
    { params: Promise.resolve(params) as Promise<never> },
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { message: string } } };
}

describe.skipIf(!haveQemuImg).each(PROVIDERS)(
  `capture to image on %s${haveQemuImg ? "" : " — skipped: qemu-img not installed"}`,
  (provider) => {
    let database: TestDatabase | undefined;
    let agent: StubAgent;
    let work = "";
    let qcow2 = "";
    let garbage = "";
    let token = "";
    let lab = "";
    let opId = "";
    let hostId = "";
    let running = "";
    let stopped = "";

    const capture = (vmId: string, body: unknown) =>
      post(captureRoute, `/api/v1/vms/${vmId}/capture`, { id: vmId }, token, body);
    /** What a refused capture must leave alone: image rows, image-store entries, host claims. */
    const world = async () => ({
      images: await db().image.findMany({ select: { id: true }, orderBy: { id: "asc" } }),
      store: fs.existsSync(imagesDir()) ? fs.readdirSync(imagesDir()).sort() : [],
      allocated: (await db().host.findUniqueOrThrow({ where: { id: hostId } })).allocatedDiskGb,
    });

    beforeAll(async () => {
      database = await useFreshDatabase(provider);
      work = fs.mkdtempSync(path.join(os.tmpdir(), "pa-capture-"));
      const raw = path.join(work, "disk.raw");
      fs.writeFileSync(raw, Buffer.alloc(0));
      fs.truncateSync(raw, 32 * 1024 * 1024);
      const fd = fs.openSync(raw, "r+");
      fs.writeSync(fd, Buffer.from(MARKER), 0, MARKER.length, MARKER_OFFSET);
      fs.closeSync(fd);
      qcow2 = path.join(work, "disk.qcow2");
      execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
      garbage = path.join(work, "garbage.bin");
      fs.writeFileSync(garbage, crypto.randomBytes(256 * 1024));

      const admin: Actor = { id: "u-admin", email: "a@c.test", name: "A", role: "admin", via: "session" };
      await db().user.create({ data: { id: admin.id, email: admin.email, name: "A", role: "admin" } });
      lab = (await createProject({ name: "lab", description: null }, { actor: admin, clientIp: null })).id;
      const op = await db().user.create({ data: { id: "u-op", email: "op@c.test", name: "Op", role: "operator" } });
      opId = op.id;
      await addUserToProjects(op.id, [lab]);
      token = (
        await createToken({ id: op.id, email: op.email, name: "Op", role: "operator", via: "session" }, "t", 0, null)
      ).token;
      const host = await insertTestHost({ diskGb: 40, allocatedDiskGb: 16 });
      hostId = host.id;
      agent = await startStubAgent(host.id, () => hostTokenFor(host.id, 0));
      agent.powerOf = (vmId) => (vmId === running ? "running" : "shutoff");
      await db().host.update({
        where: { id: host.id },
        data: { agentUrl: agent.url, certFingerprint: agent.fingerprint },
      });
      const vm = async (name: string, status: string) =>
        (
          await db().vm.create({
            data: {
              name,
              arch: "x86_64",
              vcpus: 1,
              memoryMb: 1024,
              diskGb: 8,
              hostId: host.id,
              status,
              powerState: status === "running" ? "running" : "shutoff",
              projectId: lab,
            },
          })
        ).id;
      running = await vm("web", "running");
      stopped = await vm("db", "stopped");
    });

    afterAll(async () => {
      await agent?.stop();
      await releaseDatabase(database);
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it("a stopped VM's disk becomes a ready qcow2 image of its arch, in its project, owned by the caller", async () => {
      agent.disk = { path: qcow2, mode: "ok" };
      const r = await capture(stopped, { name: "db golden", family: "db-golden" });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const sha = crypto.createHash("sha256").update(fs.readFileSync(qcow2)).digest("hex");
      expect(r.body).toMatchObject({
        name: "db golden",
        family: "db-golden",
        arch: "x86_64",
        format: "qcow2",
        status: "ready",
        visibility: "project",
        projectId: lab,
        ownerId: opId,
        sha256: sha,
        sizeBytes: fs.statSync(qcow2).size,
        virtualSize: 32 * 1024 * 1024,
        minDiskGb: 1,
      });
      expect(agent.calls.at(-1)).toBe(`GET /v1/vms/${stopped}/disk`);
      // The stored file is the agent's qcow2, byte for byte, and still holds the data written into it.
      const row = await db().image.findUniqueOrThrow({ where: { id: String(r.body.id) } });
      const stored = insideImageStore(row.path!);
      expect(fs.readFileSync(stored).equals(fs.readFileSync(qcow2))).toBe(true);
      const back = path.join(work, "back.raw");
      execFileSync("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", stored, back]);
      const buf = Buffer.alloc(MARKER.length);
      const fd = fs.openSync(back, "r");
      fs.readSync(fd, buf, 0, MARKER.length, MARKER_OFFSET);
      fs.closeSync(fd);
      expect(buf.toString()).toBe(MARKER);
      const task = await db().task.findFirstOrThrow({
        where: { vmId: stopped, kind: "vm.capture" },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      expect(task.status).toBe("succeeded");
      expect(task.steps.map((s) => [s.name, s.status])).toEqual([
        ["export disk", "succeeded"],
        ["validate image", "succeeded"],
      ]);
      expect(task.steps[0]!.message).toBe(`${fs.statSync(qcow2).size} bytes from h1`);
      const audit = await db().auditEvent.findFirstOrThrow({ where: { action: "vm.capture", result: "success" } });
      expect(JSON.parse(audit.details!)).toMatchObject({ imageId: r.body.id, name: "db golden" });
    });

    it("a running VM is captured only from a snapshot (409 otherwise, the host not asked)", async () => {
      const before = await world();
      const calls = agent.actions().length;
      const r = await capture(running, { name: "live" });
      expect(r.status).toBe(409);
      expect(r.body.error!.message).toMatch(/stop the VM first \(it is running\), or capture one of its snapshots/);
      expect(agent.actions().length).toBe(calls);
      expect(await world()).toEqual(before);

      const snap = await post(createRoute, `/api/v1/vms/${running}/snapshots`, { id: running }, token, { name: "s1" });
      expect(snap.status).toBe(201);
      agent.disk = { path: qcow2, mode: "no-length" };
      const ok = await capture(running, { name: "from snapshot", snapshotId: snap.body.id });
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      expect(ok.body).toMatchObject({ status: "ready", arch: "x86_64", family: null });
      expect(agent.calls.at(-1)).toBe(`GET /v1/vms/${running}/disk?snapshot=${snap.body.id}`);
    });

    it("a snapshot of another VM is not found", async () => {
      const other = await db().snapshot.findFirstOrThrow({ where: { vmId: running } });
      const r = await capture(stopped, { name: "x", snapshotId: other.id });
      expect(r.status).toBe(404);
    });

    it("a family slot already taken for the arch is refused before any byte moves", async () => {
      const before = await world();
      const calls = agent.actions().length;
      const r = await capture(stopped, { name: "again", family: "db-golden" });
      expect(r.status).toBe(409);
      expect(r.body.error!.message).toBe(
        'Family "db-golden" already has an x86_64 build ("db golden"). Use another family, or delete or re-family that build first.',
      );
      expect(agent.actions().length).toBe(calls);
      expect(await world()).toEqual(before);
    });

    it("a stream cut short leaves no image row and no file; the task says why", async () => {
      const before = await world();
      agent.disk = { path: qcow2, mode: "cut" };
      const r = await capture(stopped, { name: "cut", family: "cut" });
      expect(r.status).toBe(503);
      expect(r.body.error!.message).toMatch(/^The agent on host h1 /);
      expect(await world()).toEqual(before);
      const task = await db().task.findFirstOrThrow({
        where: { vmId: stopped, kind: "vm.capture", status: "failed" },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      expect(task.steps.map((s) => [s.name, s.status])).toEqual([
        ["export disk", "failed"],
        ["validate image", "skipped"],
      ]);
      // The family slot reserved for the capture was freed with the row.
      expect(await db().image.count({ where: { family: "cut" } })).toBe(0);
    });

    it("bytes that are not a qcow2 are refused by validation (422), and nothing remains", async () => {
      const before = await world();
      agent.disk = { path: garbage, mode: "ok" };
      const r = await capture(stopped, { name: "garbage" });
      expect(r.status).toBe(422);
      expect(await world()).toEqual(before);
      const task = await db().task.findFirstOrThrow({
        where: { vmId: stopped, kind: "vm.capture", status: "failed" },
        orderBy: { createdAt: "desc" },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      expect(task.steps.map((s) => s.status)).toEqual(["succeeded", "failed"]);
    });

    it("two snapshots racing for the host's last 2 GiB: exactly one gets it", async () => {
      const alloc = (await db().host.findUniqueOrThrow({ where: { id: hostId } })).allocatedDiskGb;
      await db().host.update({ where: { id: hostId }, data: { diskGb: alloc + 3 } });
      const [a, b] = await Promise.all(
        ["race-a", "race-b"].map((name) =>
          post(createRoute, `/api/v1/vms/${stopped}/snapshots`, { id: stopped }, token, { name }),
        ),
      );
      expect([a!.status, b!.status].sort()).toEqual([201, 409]);
      expect((a!.status === 409 ? a : b)!.body.error!.message).toMatch(/^Not enough disk on host h1/);
      expect((await db().host.findUniqueOrThrow({ where: { id: hostId } })).allocatedDiskGb).toBe(alloc + 2);
      expect(await db().snapshot.count({ where: { vmId: stopped } })).toBe(1);
    });
  },
);
