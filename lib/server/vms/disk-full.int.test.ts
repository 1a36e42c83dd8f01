// Disk full during VM create (issue 15): a real agent (in-process, real QEMU under TCG) whose state
// directory — image cache and VM disks — is a tmpfs (2 GiB when the agent measured it, shrunk to
// 16 MiB after: a disk filled by something else), registered through the controller's real routes;
// createVm places and provisions on it. Filled so the image cannot be downloaded, then
// so the qcow2 overlay cannot be written: each create ends in a failed task naming the step and
// the free space, the VM in error without a host, the host's allocation equal to the sum of its
// VMs, no VM directory, no partial image file and no QEMU left. The agent itself answers 507
// {error:{code:"insufficient_storage"}}. Once space is freed, Retry creates the VM.
// Needs root for the mount (CI runs as root): skipped with the reason otherwise.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestDatabase } from "../../../prisma/test-db";
import { which } from "../../../agent/src/host";
import { db } from "../platform";
import { startFrontedAgent, type FrontedAgent } from "../testing/agent-front";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { createVm, deleteVm, vmAction } from ".";

const MiB = 1024 * 1024;
const KERNEL = Buffer.alloc(4 * MiB);
const SHA = crypto.createHash("sha256").update(KERNEL).digest("hex");
const isRoot = process.getuid?.() === 0;
const haveQemu = Boolean(which("qemu-system-aarch64") && which("qemu-img"));
const skip = !isRoot ? "mounting a tmpfs needs root (CI runs it as root)" : !haveQemu ? "QEMU not installed" : "";
if (skip) console.warn(`disk-full VM create tests skipped: ${skip}`);
const admin = {
  actor: { id: "admin-1", email: "a@t.test", name: "A", role: "admin" as const, via: "session" as const },
  clientIp: null,
};

const freeBytes = (dir: string) => {
  const st = fs.statfsSync(dir);
  return Number(st.bavail) * st.bsize;
};

describe.skipIf(!!skip).each(PROVIDERS)("disk full during VM create (%s)", (provider) => {
  let mount = "";
  let mounted = false;
  let database: TestDatabase | undefined;
  let host: FrontedAgent | null = null;
  let stateDir = "";
  let filler = "";
  let imageId = "";

  /** Leaves `bytes` free on the agent's disk (a filler file of real pages takes the rest). */
  function leaveFree(bytes: number) {
    fs.rmSync(filler, { force: true });
    const fill = Math.floor((freeBytes(stateDir) - bytes) / 4096) * 4096;
    if (fill > 0) fs.writeFileSync(filler, Buffer.alloc(fill));
  }

  /** QEMU processes whose command line points into this agent's state directory (/proc, not the agent's word). */
  function qemus(): number[] {
    return fs
      .readdirSync("/proc")
      .filter((e) => /^\d+$/.test(e))
      .filter((e) => {
        try {
          const argv = fs.readFileSync(`/proc/${e}/cmdline`, "utf8");
          return argv.startsWith("qemu-system") || argv.includes("/qemu-system")
            ? argv.includes(stateDir + path.sep)
            : false;
        } catch {
          return false;
        }
      })
      .map(Number);
  }

  /**
   * Partial downloads and half-made VMs: none may remain. The fence lease is left out: the agent
   * rewrites it (temp file, then rename) on every heartbeat answer, so a listing may catch one in flight.
   */
  function leftovers(): string[] {
    const out: string[] = [];
    const fenceDir = path.join(stateDir, "fence");
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory() && p !== fenceDir) walk(p);
        else if (e.name.endsWith(".part") || e.name.endsWith(".tmp")) out.push(p);
      }
    };
    walk(stateDir);
    const vms = path.join(stateDir, "vms");
    if (fs.existsSync(vms)) out.push(...fs.readdirSync(vms).map((v) => path.join(vms, v)));
    return out;
  }

  /** Every host's claim equals the sum of the VMs placed on it. */
  async function expectAllocationsMatch() {
    for (const h of await db().host.findMany({ include: { vms: true } })) {
      const sum = (k: "vcpus" | "memoryMb" | "diskGb") => h.vms.reduce((n, v) => n + v[k], 0);
      expect([h.allocatedCpus, h.allocatedMemoryMb, h.allocatedDiskGb], h.name).toEqual([
        sum("vcpus"),
        sum("memoryMb"),
        sum("diskGb"),
      ]);
    }
  }

  async function finishedTask(vmId: string, notId = "") {
    return host!.until(async () => {
      const t = await db().task.findFirst({
        where: { vmId, kind: "vm.create", NOT: { id: notId } },
        orderBy: { createdAt: "desc" },
        include: { steps: { orderBy: { position: "asc" } } },
      });
      return t && t.status !== "running" ? t : null;
    }, "the create task to finish");
  }

  beforeAll(async () => {
    database = await useFreshDatabase(provider);
    mount = fs.mkdtempSync(path.join(os.tmpdir(), "pa-vmfull-"));
    // A test that cannot mount as root must fail, not skip: the fault would go unproven.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2g,mode=0700", "tmpfs", mount]);
    mounted = true;
    // startFrontedAgent makes the agent's root under the temp dir: put it on the tmpfs.
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = mount;
    try {
      host = await startFrontedAgent("diskfull", KERNEL, undefined, 90_000);
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    stateDir = path.join(host.root, "state");
    expect(stateDir.startsWith(mount + path.sep)).toBe(true);
    // The agent measured a 2 GiB disk at start (placement and the agent's own check count VM disks
    // against that total); now the disk holds 16 MiB: a big disk that something else filled since.
    execFileSync("mount", ["-o", "remount,size=16m", mount]);
    filler = path.join(host.root, "filler");
    imageId = (
      await db().image.create({
        data: {
          name: "kernel-4m",
          arch: "aarch64",
          format: "kernel",
          status: "ready",
          sha256: SHA,
          sizeBytes: KERNEL.length,
          cmdline: "",
        },
      })
    ).id;
  }, 120_000);

  afterAll(async () => {
    const vms = await db()
      .vm.findMany({ select: { id: true } })
      .catch(() => []);
    for (const vm of vms) await deleteVm(vm.id, admin).catch(() => {});
    for (const pid of qemus()) host?.pids.add(pid);
    await host?.stop();
    await releaseDatabase(database);
    if (mounted) {
      try {
        execFileSync("umount", [mount]);
      } catch (e) {
        execFileSync("umount", ["--lazy", mount]); // never leave the mount; but say something held it
        throw e;
      }
    }
    fs.rmSync(mount, { recursive: true, force: true });
  });

  const create = (name: string) =>
    createVm(
      {
        name,
        arch: "aarch64",
        imageId,
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        networkId: null,
        allowEmulation: true,
        strategy: "spread",
      },
      admin,
    );

  it("the image does not fit in the host's cache: 'image ready' fails with the free space, nothing is left", async () => {
    leaveFree(1 * MiB);
    const started = Date.now();
    const { vm } = await create("no-room-for-image");
    const task = await finishedTask(vm.id);
    const ms = Date.now() - started;
    expect(task.status).toBe("failed");
    const failed = task.steps.filter((s) => s.status === "failed");
    expect(failed.map((s) => s.name)).toEqual(["image ready"]);
    expect(task.error).toMatch(
      /no space left on this host for the image cache \(.*\): [\d.]+ MiB free, the file needs 4\.0 MiB; free disk space/,
    );
    expect(task.steps.filter((s) => s.position > failed[0]!.position).every((s) => s.status === "skipped")).toBe(true);
    const row = await db().vm.findUniqueOrThrow({ where: { id: vm.id } });
    expect(row).toMatchObject({ status: "error", hostId: null, lastError: task.error });
    await expectAllocationsMatch();
    expect(leftovers()).toEqual([]);
    expect(qemus()).toEqual([]);
    console.info(`[disk-full] VM create, image cache full: failed in ${ms} ms: ${task.error}`);
  });

  it("the overlay does not fit: 'disk' fails (agent answers 507), no half VM; freed, Retry creates it", async () => {
    // Room for the 4 MiB kernel and the VM's small files, not for the new qcow2 (193 KiB, written whole).
    leaveFree(4 * MiB + 64 * 1024);
    const started = Date.now();
    const { vm } = await create("no-room-for-disk");
    const task = await finishedTask(vm.id);
    const ms = Date.now() - started;
    expect(task.status).toBe("failed");
    const steps = Object.fromEntries(task.steps.map((s) => [s.name, s]));
    expect(steps["image ready"]!.status).toBe("succeeded");
    expect(steps["disk"]!.status).toBe("failed");
    expect(steps["disk"]!.message).toMatch(/No space left on device/);
    expect(task.error).toMatch(
      /^Host .*: could not create VM .*: .*No space left on device \([\d.]+ MiB free in .*\/vms\)$/,
    );
    expect(await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).toMatchObject({ status: "error", hostId: null });
    await expectAllocationsMatch();
    expect(leftovers()).toEqual([]);
    expect(qemus()).toEqual([]);
    console.info(`[disk-full] VM create, overlay does not fit: failed in ${ms} ms: ${task.error}`);

    // The agent's own answer to the same create: 507 with the error shape (plain JSON, no step stream).
    const spec = {
      name: "direct",
      arch: "aarch64",
      vcpus: 1,
      memoryMb: 128,
      diskGb: 1,
      boot: { type: "kernel", imageId, kernelSha256: SHA, cmdline: "" },
    };
    const res = await fetch(`${host!.agent.url}/v1/vms/direct-put`, {
      method: "PUT",
      headers: { authorization: `Bearer ${host!.agent.client!.token}`, "content-type": "application/json" },
      body: JSON.stringify(spec),
    });
    expect(res.status).toBe(507);
    expect(await res.json()).toEqual({
      error: {
        code: "insufficient_storage",
        message: expect.stringMatching(/No space left on device \([\d.]+ MiB free/),
      },
    });
    expect(leftovers()).toEqual([]);

    // Space freed: Retry of the same VM succeeds, QEMU runs, the claim is the VM's.
    fs.rmSync(filler, { force: true });
    await vmAction(vm.id, "retry", admin);
    const ok = await finishedTask(vm.id, task.id);
    expect(ok.status, JSON.stringify(ok.steps)).toBe("succeeded");
    expect(await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).toMatchObject({ status: "running" });
    await expectAllocationsMatch();
    expect(qemus()).toHaveLength(1);
    for (const pid of qemus()) host!.pids.add(pid);
    await deleteVm(vm.id, admin);
    await host!.until(() => qemus().length === 0, "QEMU to exit after delete");
  });
});
