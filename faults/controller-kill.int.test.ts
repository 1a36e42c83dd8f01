// The controller SIGKILLed mid-work (issue 15), once, with an image upload streaming in, VMs being
// created (the provisioning runs in the controller process after the 202) and VMs being deleted.
// After the restart the product's own mechanisms (the upload sweeps, the orphaned-task sweep,
// heartbeats) must leave no upload "uploading" or on disk, every VM running or failed with its
// reason and its claim released, no delete stuck or leaking — and the user sees it and can act again.
// One kill for the three faults: recovery waits for the dead controller's leases to expire (~40 s).
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "../lib/server/platform";
import { fleetQemus, missingBuild, startRig, type Rig } from "../lib/server/testing/fault-rig";
import { adminAuthorization, streamUpload, type UploadOutcome } from "./slow-upload";

let rig: Rig | undefined;
const FIX = path.resolve(".cache/fixtures/x86_64");
const haveFixtures = fs.existsSync(path.join(FIX, "vmlinuz")) && fs.existsSync(path.join(FIX, "initrd.img"));
const UPLOAD = "kill-upload";

interface VmView {
  id: string;
  name: string;
  status: string;
  lastError: string | null;
  host: { id: string } | null;
}
interface TaskView {
  kind: string;
  status: string;
  error: string | null;
}

/** What was in flight when the controller died. */
const cut = { uploadId: null as string | null, upload: null as UploadOutcome | null, created: [] as string[] };
const doomed: string[] = [];

describe.skipIf(missingBuild() !== null || !haveFixtures)("controller SIGKILL during upload, create and delete", () => {
  beforeAll(async () => {
    rig = await startRig({ fleet: { x86_64: 1 } });
  }, 240_000);
  afterAll(async () => {
    await rig?.stop();
  }, 120_000);

  const imagesDir = () => path.join(process.env.POLYARCH_DATA_DIR!, "images");
  const statusOf = async (id: string) => (await db().vm.findUnique({ where: { id } }))?.status ?? "gone";
  const createVm = async (name: string, imageId: string) =>
    (
      await rig!.api.expect<{ vm: { id: string } }>(202, "POST", "/api/v1/vms", {
        name,
        arch: "x86_64",
        imageId,
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
      })
    ).vm.id;
  const kernelParts = (name: string) => [
    { name: "name", value: name },
    { name: "format", value: "kernel" },
    { name: "arch", value: "x86_64" },
    { name: "kernel", path: path.join(FIX, "vmlinuz"), filename: "vmlinuz" },
    { name: "initrd", path: path.join(FIX, "initrd.img"), filename: "initrd.img" },
  ];
  const uploadKernel = async (name: string) => {
    const done = await streamUpload(rig!.controller.url, await adminAuthorization(), kernelParts(name));
    expect(done.status, done.error ?? done.body).toBe(201);
    return JSON.parse(done.body) as { id: string; status: string; arch: string };
  };

  it("the controller dies with an upload, five creates and three deletes in flight, and is restarted", async () => {
    const { api, controller } = rig!;
    const demo = await api.demoImage("x86_64");
    for (const n of [1, 2, 3]) doomed.push(await createVm(`kill-del-${n}`, demo));
    for (const id of doomed) await expect.poll(() => statusOf(id), { timeout: 120_000, interval: 250 }).toBe("running");
    // Not in the host's cache yet: the first creates fetch it from the controller that dies.
    const fresh = (await uploadKernel("kill-create-image")).id;

    // The upload stalls after 2 MiB (its row and files exist) while the creates are sent one after
    // the other (each at another step when the controller dies) and the deletes (synchronous
    // requests) have begun; then SIGKILL.
    let before: string[] = [];
    cut.upload = await streamUpload(controller.url, await adminAuthorization(), kernelParts(UPLOAD), {
      pauseMs: 5,
      onProgress: async (sent) => {
        if (cut.uploadId || sent < 2 * 1024 * 1024) return;
        const row = await db().image.findFirst({ where: { name: UPLOAD, status: "uploading" } });
        if (!row || !fs.existsSync(path.join(imagesDir(), row.id))) return;
        cut.uploadId = row.id;
        for (const n of [1, 2, 3, 4, 5]) cut.created.push(await createVm(`kill-new-${n}`, fresh));
        for (const id of doomed) void api.call("DELETE", `/api/v1/vms/${id}`, undefined, 60_000);
        const deleting = async () => (await Promise.all(doomed.map(statusOf))).every((s) => s !== "running");
        await expect.poll(deleting, { timeout: 30_000, interval: 2 }).toBe(true);
        before = await Promise.all([...cut.created, ...doomed].map(statusOf));
        await controller.kill("SIGKILL");
      },
    });
    console.log(
      `[faults] killed at ${before.join(",")}; upload cut after ${cut.upload.bytesSent} B: ${cut.upload.error}`,
    );
    expect(cut.uploadId, "the upload's row and files existed while it streamed").not.toBeNull();
    expect(cut.upload.status, "the cut upload got no answer").toBeNull();
    expect(cut.upload.error).toMatch(/ECONNRESET|EPIPE|socket hang up|ERR_STREAM_DESTROYED/);
    // Restarted at once: the dead controller's liveness lease has not expired yet.
    await controller.restart();
  }, 240_000);

  it("upload: nothing of the cut upload remains (row, files), and the same upload then succeeds", async () => {
    expect(cut.uploadId).not.toBeNull();
    const listed = async () => {
      const { items } = await rig!.api.expect<{ items: { id: string; status: string }[] }>(
        200,
        "GET",
        `/api/v1/images?q=${UPLOAD}`,
      );
      return items.find((i) => i.id === cut.uploadId)?.status ?? "gone";
    };
    await expect.poll(listed, { timeout: 90_000, interval: 500 }).toBe("gone");
    expect(await db().image.count({ where: { status: { in: ["uploading", "validating"] } } })).toBe(0);
    expect(fs.existsSync(path.join(imagesDir(), cut.uploadId!)), "the cut upload's files").toBe(false);
    const image = await uploadKernel(UPLOAD);
    expect(image).toMatchObject({ status: "ready", arch: "x86_64" });
    expect(fs.readdirSync(imagesDir())).toContain(image.id);
  }, 180_000);

  it("creates: each VM ends running with its QEMU, or failed with the reason and its claim released", async () => {
    const { api, fleet } = rig!;
    expect(cut.created).toHaveLength(5);
    // Settled when none is creating and their tasks ended (the full invariant check closes the file).
    const settled = async () => {
      const creating = await db().vm.count({ where: { id: { in: cut.created }, status: "creating" } });
      const open = await db().task.count({
        where: { vmId: { in: cut.created }, status: { in: ["pending", "running"] } },
      });
      return creating + open;
    };
    await expect.poll(settled, { timeout: 120_000, interval: 500 }).toBe(0);
    for (const id of cut.created) {
      const vm = await api.expect<VmView>(200, "GET", `/api/v1/vms/${id}`);
      const tasks = (await api.expect<{ items: TaskView[] }>(200, "GET", `/api/v1/vms/${id}/tasks`)).items;
      const create = tasks.find((t) => t.kind === "vm.create");
      console.log(
        `[faults] ${vm.name}: ${vm.status} (${vm.lastError ?? "-"}); task ${create?.status} ${create?.error ?? ""}`,
      );
      expect(["running", "error"]).toContain(vm.status);
      expect(create?.status).toMatch(/^(succeeded|failed)$/);
      if (create?.status === "failed") expect(create.error ?? "").toMatch(/controller/i);
      if (vm.status === "running") expect(fleetQemus(fleet).filter((q) => q.vmId === id)).toHaveLength(1);
      else {
        expect(vm.lastError ?? "").toMatch(/controller/i);
        expect(vm.host ?? null).toBeNull();
        expect(fleetQemus(fleet).filter((q) => q.vmId === id)).toHaveLength(0);
      }
    }
    // A create the crash failed is retried by the user and runs.
    const failed: string[] = [];
    for (const id of cut.created) if ((await statusOf(id)) === "error") failed.push(id);
    if (failed[0]) {
      await api.expect(200, "POST", `/api/v1/vms/${failed[0]}/actions`, { action: "retry" });
      await expect.poll(() => statusOf(failed[0]!), { timeout: 120_000, interval: 250 }).toBe("running");
    }
  }, 300_000);

  it("deletes: none stays deleting; each finished or is handed back and deleted again; then every invariant holds", async () => {
    const { api, fleet } = rig!;
    expect(doomed).toHaveLength(3);
    await rig!.settle({ timeoutMs: 120_000 });
    for (const id of doomed) {
      const got = await api.call<VmView>("GET", `/api/v1/vms/${id}`);
      console.log(
        `[faults] deleted VM ${id}: ${got.status} ${got.status === 200 ? `${got.body.status} ${got.body.lastError}` : ""}`,
      );
      if (got.status === 404) continue;
      expect(got.status).toBe(200);
      expect(got.body.status).not.toBe("deleting");
      expect(got.body.lastError ?? "").toMatch(/delete/i);
      await api.expect(200, "DELETE", `/api/v1/vms/${id}`);
      expect((await api.call("GET", `/api/v1/vms/${id}`)).status).toBe(404);
    }
    await rig!.settle();
    expect(fleetQemus(fleet).filter((q) => doomed.includes(q.vmId))).toEqual([]);
    for (const agent of fleet.agents)
      for (const id of doomed) expect(fs.existsSync(path.join(agent.stateDir, "vms", id)), `VM dir ${id}`).toBe(false);
  }, 300_000);
});
