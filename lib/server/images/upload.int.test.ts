// Upload/import integration tests on a real, freshly migrated SQLite database and a temp image
// store: streamed multipart bodies, qemu-img validation, arch detection, and "nothing remains".
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { multipartRequest, type TestPart } from "../testing/multipart-body";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { imagesDir } from "./files";
import { acquireLease, CONTROLLER_LEASE_PREFIX } from "../platform";
import { importImage, MAX_KERNEL_BYTES, sweepInterruptedUploads, uploadImage } from "./upload";
import { sweepAbandonedUploads } from "./upload-sweep";
import { deleteImage, updateImage } from "./lifecycle";
import type { Actor } from "../platform";

const FIX = resolve(".cache/fixtures");
const kernel = (arch: string) => join(FIX, arch, "vmlinuz");
const initrd = (arch: string) => join(FIX, arch, "initrd.img");
const haveFixtures = existsSync(kernel("x86_64")) && existsSync(kernel("aarch64"));

const actor: Actor = { id: "u-op", email: "op@t.test", name: "Op", role: "operator", via: "session" };
const who = { actor, clientIp: "127.0.0.1" };
const adminWho = { actor: { ...actor, id: "u-admin", role: "admin" as const }, clientIp: "127.0.0.1" };
const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "polyarch-upload-test-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function expectNothingRemains() {
  expect(await db().image.count()).toBe(0);
  expect(existsSync(imagesDir()) ? readdirSync(imagesDir()) : []).toEqual([]);
}

const kernelParts = (arch: string, fields: Record<string, string> = {}): TestPart[] => [
  { name: "name", value: `busybox ${arch}` },
  { name: "format", value: "kernel" },
  ...Object.entries(fields).map(([name, value]) => ({ name, value })),
  { name: "kernel", path: kernel(arch), filename: "vmlinuz" },
  { name: "initrd", path: initrd(arch), filename: "initrd.img" },
];

describe.skipIf(!haveFixtures)("image upload (streamed multipart) on sqlite", () => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase("sqlite");
  });
  afterEach(async () => {
    await releaseDatabase(database);
    // useFreshDatabase makes a temp data dir per test; the image store in it holds real kernels.
    rmSync(process.env.POLYARCH_DATA_DIR!, { recursive: true, force: true });
  });

  it.each(["aarch64", "x86_64"])(
    "a good %s kernel image becomes ready with the detected arch, hashes and files in the store",
    async (arch) => {
      const image = await uploadImage(multipartRequest(kernelParts(arch, { family: "busybox-up" })), who);
      expect(image).toMatchObject({
        status: "ready",
        arch,
        format: "kernel",
        family: "busybox-up",
        firmware: arch === "aarch64" ? "uefi" : "bios",
        sha256: sha(kernel(arch)),
      });
      const row = await db().image.findUniqueOrThrow({ where: { id: image.id } });
      expect(row.detectedArch).toBe(arch);
      expect(row.initrdSha256).toBe(sha(initrd(arch)));
      expect(row.cmdline).toContain(arch === "aarch64" ? "ttyAMA0" : "ttyS0");
      expect(sha(join(imagesDir(), row.kernelPath!))).toBe(row.sha256);
      expect(sha(join(imagesDir(), row.initrdPath!))).toBe(row.initrdSha256);
      const audit = await db().auditEvent.findFirst({ where: { action: "image.upload", targetId: image.id } });
      expect(audit?.result).toBe("success");
    },
  );

  it("accepts arch aliases: amd64 for an x86_64 kernel", async () => {
    const image = await uploadImage(
      multipartRequest(kernelParts("x86_64", { arch: "amd64", cmdline: "console=ttyS0 quiet" })),
      who,
    );
    expect(image).toMatchObject({ arch: "x86_64", cmdline: "console=ttyS0 quiet" });
  });

  it("refuses a declared x86_64 image whose kernel is aarch64, naming both; nothing remains", async () => {
    const err = await uploadImage(multipartRequest(kernelParts("aarch64", { arch: "x86_64" })), who).catch((e) => e);
    expect(err).toMatchObject({ code: "unprocessable", status: 422 });
    expect(err.message).toMatch(/x86_64/);
    expect(err.message).toMatch(/aarch64/);
    await expectNothingRemains();
    expect(await db().auditEvent.count({ where: { action: "image.upload", result: "error" } })).toBe(1);
  });

  it("refuses a qcow2 whose backing file points at a host file; nothing remains", async () => {
    const evil = join(work, "evil.qcow2");
    rmSync(evil, { force: true });
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", evil, "64M"]);
    const err = await uploadImage(
      multipartRequest([
        { name: "name", value: "evil" },
        { name: "format", value: "qcow2" },
        { name: "arch", value: "x86_64" },
        { name: "file", path: evil },
      ]),
      who,
    ).catch((e) => e);
    expect(err).toMatchObject({ code: "unprocessable", message: expect.stringMatching(/backing file/) });
    await expectNothingRemains();
  });

  it("refuses a file that claims qcow2 but is raw; nothing remains", async () => {
    const raw = join(work, "plain.raw");
    writeFileSync(raw, Buffer.alloc(2 * 1024 * 1024));
    const err = await uploadImage(
      multipartRequest([
        { name: "name", value: "liar" },
        { name: "format", value: "qcow2" },
        { name: "file", path: raw },
      ]),
      who,
    ).catch((e) => e);
    expect(err).toMatchObject({ code: "unprocessable", message: expect.stringMatching(/raw, not qcow2/) });
    await expectNothingRemains();
  });

  it("stores a good qcow2 disk with its virtual size and minimum disk", async () => {
    const disk = join(FIX, "x86_64", "disk.qcow2");
    const image = await uploadImage(
      multipartRequest([
        { name: "name", value: "disk" },
        { name: "format", value: "qcow2" },
        { name: "arch", value: "x86_64" },
        { name: "file", path: disk },
      ]),
      who,
    );
    expect(image).toMatchObject({ status: "ready", arch: "x86_64", format: "qcow2", sha256: sha(disk), minDiskGb: 1 });
    expect(image.virtualSize).toBeGreaterThan(0);
  });

  it("answers 413 at once when Content-Length is above the limit, and for a streamed kernel above its limit; nothing remains", async () => {
    const req = multipartRequest(kernelParts("x86_64"), { contentLength: 80 * 1024 ** 3 });
    await expect(uploadImage(req, who)).rejects.toMatchObject({ code: "too_large", status: 413 });
    const big = new Uint8Array(MAX_KERNEL_BYTES + 1);
    const err = await uploadImage(
      multipartRequest([
        { name: "name", value: "big" },
        { name: "format", value: "kernel" },
        { name: "kernel", data: big },
      ]),
      who,
    ).catch((e) => e);
    expect(err).toMatchObject({ code: "too_large", status: 413, message: expect.stringMatching(/kernel.*256 MiB/) });
    await expectNothingRemains();
  });

  it("cleans up when the connection resets mid-file, ends early, or the client aborts", async () => {
    for (const opts of [{ failAfter: 3_000_000 }, { truncateAfter: 3_000_000 }]) {
      const err = await uploadImage(multipartRequest(kernelParts("x86_64"), opts), who).catch((e) => e);
      expect(err).toMatchObject({ code: "invalid", message: expect.stringMatching(/interrupted/) });
      await expectNothingRemains();
    }
    // An abort while the body is still flowing: the row exists (uploading), then everything goes.
    const ac = new AbortController();
    const slow = multipartRequest(
      [
        { name: "name", value: "slow" },
        { name: "format", value: "raw" },
        { name: "file", data: new Uint8Array(1) },
      ],
      { signal: ac.signal },
    );
    const stalled = new Request(slow.url, {
      method: "POST",
      headers: slow.headers,
      signal: ac.signal,
      duplex: "half",
      body: stallAfterFirstChunks(slow.body!),
    } as RequestInit & { duplex: "half" });
    const pending = uploadImage(stalled, who).catch((e) => e);
    await waitFor(async () => (await db().image.count({ where: { status: "uploading" } })) === 1);
    ac.abort();
    expect(await pending).toMatchObject({ code: "invalid", message: expect.stringMatching(/cancelled|interrupted/) });
    await expectNothingRemains();
  });

  it("refuses text fields after a file part, unknown fields and a missing file with 400", async () => {
    const late = await uploadImage(
      multipartRequest([
        { name: "format", value: "kernel" },
        { name: "name", value: "x" },
        { name: "kernel", path: kernel("x86_64") },
        { name: "arch", value: "x86_64" },
      ]),
      who,
    ).catch((e) => e);
    expect(late).toMatchObject({ code: "invalid", message: expect.stringMatching(/before the files/) });
    const unknown = await uploadImage(
      multipartRequest([
        { name: "name", value: "x" },
        { name: "path", value: "/etc/passwd" },
      ]),
      who,
    ).catch((e) => e);
    expect(unknown).toMatchObject({ code: "invalid", message: expect.stringMatching(/Unknown form field "path"/) });
    const missing = await uploadImage(
      multipartRequest([
        { name: "name", value: "x" },
        { name: "format", value: "qcow2" },
      ]),
      who,
    ).catch((e) => e);
    expect(missing).toMatchObject({ code: "invalid", message: expect.stringMatching(/No "file" part/) });
    const wrong = await uploadImage(
      multipartRequest([
        { name: "name", value: "x" },
        { name: "format", value: "qcow2" },
        { name: "kernel", path: kernel("x86_64") },
      ]),
      who,
    ).catch((e) => e);
    expect(wrong).toMatchObject({ code: "invalid", message: expect.stringMatching(/part "file"/) });
    await expectNothingRemains();
  });

  it("refuses a file sent without a filename (a form field), a text field over 4 KiB and a file part sent twice; nothing remains", async () => {
    const asField = await uploadImage(
      multipartRequest([
        { name: "name", value: "x" },
        { name: "format", value: "raw" },
        { name: "file", data: new Uint8Array(64 * 1024 * 1024), filename: null },
      ]),
      who,
    ).catch((e) => e);
    expect(asField).toMatchObject({
      code: "invalid",
      status: 400,
      message: expect.stringMatching(/without a filename.*send files as file parts/),
    });
    const long = await uploadImage(
      multipartRequest([
        { name: "name", value: "x" },
        { name: "cmdline", value: "c".repeat(4097) },
        { name: "kernel", path: kernel("x86_64") },
      ]),
      who,
    ).catch((e) => e);
    expect(long).toMatchObject({
      code: "invalid",
      message: expect.stringMatching(/"cmdline" is longer than 4096 bytes/),
    });
    const twice = await uploadImage(
      multipartRequest([
        { name: "name", value: "x" },
        { name: "format", value: "kernel" },
        { name: "kernel", path: kernel("x86_64") },
        { name: "kernel", path: kernel("x86_64") },
      ]),
      who,
    ).catch((e) => e);
    expect(twice).toMatchObject({ code: "invalid", message: expect.stringMatching(/"kernel" was sent twice/) });
    await expectNothingRemains();
  });

  it("family + arch is unique: 409 before any byte when declared, 409 after detection otherwise; the loser leaves nothing", async () => {
    const first = await uploadImage(multipartRequest(kernelParts("aarch64", { family: "deb" })), who);
    const declared = await uploadImage(
      multipartRequest(kernelParts("aarch64", { family: "deb", arch: "arm64" })),
      who,
    ).catch((e) => e);
    expect(declared).toMatchObject({
      code: "conflict",
      status: 409,
      message: expect.stringMatching(/Family "deb" already has an aarch64 build \("busybox aarch64"\)/),
    });
    const detected = await uploadImage(multipartRequest(kernelParts("aarch64", { family: "deb" })), who).catch(
      (e) => e,
    );
    expect(detected).toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/already has an aarch64 build/),
    });
    expect((await db().image.findMany()).map((i) => i.id)).toEqual([first.id]);
    expect(readdirSync(imagesDir())).toEqual([first.id]);
    // The other arch joins the family.
    const x86 = await uploadImage(multipartRequest(kernelParts("x86_64", { family: "deb" })), who);
    expect(x86.family).toBe("deb");
  });

  it("a family slot held by an image the uploader may not see is 'in use', without naming it", async () => {
    await uploadImage(multipartRequest(kernelParts("aarch64", { family: "hidden", visibility: "private" })), who);
    const other = { actor: { ...actor, id: "u-op2", email: "op2@t.test" }, clientIp: "127.0.0.1" };
    for (const fields of [{ family: "hidden", arch: "arm64" }, { family: "hidden" }] as Record<string, string>[]) {
      const err = await uploadImage(multipartRequest(kernelParts("aarch64", fields)), other).catch((e) => e);
      expect(err).toMatchObject({ code: "conflict", message: expect.stringMatching(/"hidden" is already in use/) });
      expect(err.message).not.toContain("busybox");
    }
  });

  it("PATCH renames, re-families (409 on a taken slot) and sets visibility; DELETE is refused while a VM uses the image", async () => {
    const a = await uploadImage(multipartRequest(kernelParts("x86_64", { family: "one" })), who);
    const b = await uploadImage(multipartRequest(kernelParts("x86_64", { family: "two" })), who);
    expect(await updateImage(a.id, { name: "renamed", visibility: "private" }, who)).toMatchObject({
      name: "renamed",
      visibility: "private",
      family: "one",
    });
    await expect(updateImage(b.id, { family: "one" }, who)).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/"renamed"/),
    });
    expect(await updateImage(b.id, { family: null }, who)).toMatchObject({ family: null });
    await db().vm.create({ data: { name: "v1", arch: "x86_64", vcpus: 1, memoryMb: 128, diskGb: 1, imageId: a.id } });
    await db().vm.create({ data: { name: "v2", arch: "x86_64", vcpus: 1, memoryMb: 128, diskGb: 1, imageId: a.id } });
    await expect(deleteImage(a.id, who)).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/used by 2 VMs/),
    });
    expect(existsSync(join(imagesDir(), a.id))).toBe(true);
    await deleteImage(b.id, who);
    expect(existsSync(join(imagesDir(), b.id))).toBe(false);
    expect(await db().image.findUnique({ where: { id: b.id } })).toBeNull();
    await expect(deleteImage(b.id, who)).rejects.toMatchObject({ code: "not_found" });
    expect(
      await db().auditEvent.count({ where: { action: { in: ["image.update", "image.delete"] }, result: "success" } }),
    ).toBe(3);
  });

  it("admin import copies a controller file, refusing symlinks and non-regular files", async () => {
    const link = join(work, "vmlinuz-link");
    rmSync(link, { force: true });
    symlinkSync(kernel("aarch64"), link);
    await expect(
      importImage({ path: link, name: "l", format: "kernel", visibility: "public" }, adminWho),
    ).rejects.toMatchObject({ code: "invalid", message: expect.stringMatching(/symbolic link/) });
    await expect(
      importImage({ path: "/dev/null", name: "n", format: "raw", visibility: "public" }, adminWho),
    ).rejects.toMatchObject({ code: "invalid", message: expect.stringMatching(/symbolic link|regular file/) });
    await expect(
      importImage({ path: work, name: "d", format: "raw", visibility: "public" }, adminWho),
    ).rejects.toMatchObject({ code: "invalid" });
    await expectNothingRemains();
    const image = await importImage(
      {
        path: kernel("aarch64"),
        initrdPath: initrd("aarch64"),
        name: "imported",
        format: "kernel",
        family: "imp",
        visibility: "public",
      },
      adminWho,
    );
    expect(image).toMatchObject({ status: "ready", arch: "aarch64", family: "imp", sha256: sha(kernel("aarch64")) });
  });

  it("the start-up sweep removes rows and directories an interrupted controller left behind", async () => {
    const stale = await db().image.create({
      data: { name: "stale", arch: "unknown", format: "raw", status: "uploading" },
    });
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(imagesDir(), stale.id), { recursive: true });
    mkdirSync(join(imagesDir(), "orphan"), { recursive: true });
    expect(await sweepInterruptedUploads()).toEqual({ rows: 1, dirs: 1 });
    await expectNothingRemains();
  });

  it("the sweep keeps an upload another live controller is receiving, and takes it once that controller is gone", async () => {
    const { mkdirSync } = await import("node:fs");
    const other = await db().image.create({
      data: { name: "elsewhere", arch: "unknown", format: "raw", status: "uploading", uploadControllerId: "ctl-b" },
    });
    mkdirSync(join(imagesDir(), other.id), { recursive: true });
    await acquireLease(`${CONTROLLER_LEASE_PREFIX}ctl-b`, 60_000, "ctl-b");
    expect(await sweepInterruptedUploads()).toEqual({ rows: 0, dirs: 0 });
    expect(await db().image.count()).toBe(1);
    // Controller B dies: its liveness lease expires (moved into the past here) and the next sweep cleans up.
    await db().lease.update({
      where: { name: `${CONTROLLER_LEASE_PREFIX}ctl-b` },
      data: { expiresAtMs: BigInt(Date.now() - 1_000) },
    });
    expect(await sweepInterruptedUploads()).toEqual({ rows: 1, dirs: 0 });
    await expectNothingRemains();
  });

  it("the periodic sweep takes uploads of a controller that died since, never a live or an unowned one", async () => {
    const { mkdirSync } = await import("node:fs");
    const rows = [];
    for (const [i, owner] of ["dead", "live", null].entries()) {
      const row = await db().image.create({
        data: { name: `u${i}`, arch: "unknown", format: "raw", status: "uploading", uploadControllerId: owner },
      });
      mkdirSync(join(imagesDir(), row.id), { recursive: true });
      rows.push(row);
    }
    // A controller restarted right after a crash still sees the dead one's lease; it expires later.
    for (const owner of ["dead", "live"]) await acquireLease(`${CONTROLLER_LEASE_PREFIX}${owner}`, 60_000, owner);
    expect(await sweepInterruptedUploads()).toEqual({ rows: 1, dirs: 0 }); // the unowned one, at start-up only
    expect(await sweepAbandonedUploads()).toEqual({ rows: 0 });
    await db().lease.update({
      where: { name: `${CONTROLLER_LEASE_PREFIX}dead` },
      data: { expiresAtMs: BigInt(Date.now() - 1_000) },
    });
    expect(await sweepAbandonedUploads()).toEqual({ rows: 1 });
    expect((await db().image.findMany()).map((r) => r.name)).toEqual(["u1"]);
    expect(readdirSync(imagesDir())).toEqual([rows[1]!.id]);
  });
});

/** Passes the first chunks (headers and fields) through, then never sends more: a stalled client. */
function stallAfterFirstChunks(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let n = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (n++ >= 8) return new Promise<void>(() => {}); // fields, the file header and its first byte
      const { done, value } = await reader.read();
      if (done) return new Promise<void>(() => {});
      c.enqueue(value);
    },
    cancel: () => reader.cancel(),
  });
}

async function waitFor(check: () => Promise<boolean>, ms = 5000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 20));
  }
}
