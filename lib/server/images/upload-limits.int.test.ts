// Upload limits on a real SQLite database and the real image-store filesystem (ADR 027): uploads
// per user (counted across controllers), free space minus the reserve (507), the project image
// quota (413), and the project and visibility an upload gets. Every refusal leaves nothing behind.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { statfsSync, existsSync, readdirSync, rmSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { TestDatabase } from "../../../prisma/test-db";
import { acquireLease, CONTROLLER_LEASE_PREFIX, db, resetEnvForTests, type Actor } from "../platform";
import { getProject, updateProject } from "../projects";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import { testBoundary } from "../testing/multipart-body";
import { imagesDir } from "./files";
import { uploadImage } from "./upload";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const operator: Actor = { id: "u-op", email: "op@t.test", name: "Op", role: "operator", via: "session" };
const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };
const as = (actor: Actor) => ({ actor, clientIp: "127.0.0.1" });
const ENV = [
  "POLYARCH_UPLOADS_PER_USER",
  "POLYARCH_IMAGE_STORE_RESERVE_GB",
  "POLYARCH_PROJECT_IMAGE_QUOTA_GB",
] as const;

/**
 * A raw-disk upload whose body is sent as: the text fields and `first` bytes of the file, then
 * (after `release()` when `held`) `rest` more bytes and the closing boundary.
 */
function rawUpload(opts: {
  name: string;
  fields?: Record<string, string>;
  first?: number;
  rest?: number;
  held?: boolean;
  contentLength?: boolean;
}) {
  const b = testBoundary();
  const field = (n: string, v: string) => `--${b}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`;
  const fields = { name: opts.name, format: "raw", arch: "x86_64", ...opts.fields };
  const head = Buffer.from(
    Object.entries(fields)
      .map(([n, v]) => field(n, v))
      .join("") +
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="d.raw"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${b}--\r\n`);
  const first = opts.first ?? MiB;
  const rest = opts.rest ?? 0;
  let release = () => {};
  const gate = opts.held ? new Promise<void>((r) => (release = r)) : Promise.resolve();
  const chunks = function* () {
    yield head;
    for (let n = 0; n < first; n += MiB) {
      const c = Buffer.alloc(Math.min(MiB, first - n));
      if (n === 0) c.writeUInt16BE(0x55aa, 510); // an MBR boot signature: a raw disk the inspector accepts
      yield c;
    }
  };
  const later = function* () {
    for (let n = 0; n < rest; n += MiB) yield Buffer.alloc(Math.min(MiB, rest - n));
    yield tail;
  };
  let it: Generator<Buffer> = chunks();
  let waited = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next = it.next();
      if (next.done && !waited) {
        waited = true;
        await gate;
        it = later();
        next = it.next();
      }
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
  const headers: Record<string, string> = { "content-type": `multipart/form-data; boundary=${b}` };
  if (opts.contentLength !== false) headers["content-length"] = String(head.length + first + rest + tail.length);
  const request = new Request("http://controller.test/api/v1/images", {
    method: "POST",
    body,
    headers,
    duplex: "half",
  } as RequestInit & { duplex: "half" });
  return { request, release };
}

async function waitForUploading(n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await db().image.count({ where: { status: "uploading" } })) >= n) return;
    await sleep(10);
  }
  throw new Error(`never saw ${n} uploads running`);
}

async function expectNoImages(): Promise<void> {
  expect(await db().image.count()).toBe(0);
  expect(existsSync(imagesDir()) ? readdirSync(imagesDir()) : []).toEqual([]);
}

async function user(actor: Actor, projects: string[] = []) {
  await db().user.create({ data: { id: actor.id, email: actor.email, name: actor.name, role: actor.role } });
  for (const projectId of projects) await db().projectMember.create({ data: { projectId, userId: actor.id } });
}

describe.each(PROVIDERS)("upload limits on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    for (const k of ENV) delete process.env[k];
    resetEnvForTests();
    await releaseDatabase(database);
    rmSync(process.env.POLYARCH_DATA_DIR!, { recursive: true, force: true });
  });

  it("a user's third concurrent upload gets 429, counting live controllers only; it leaves nothing", async () => {
    const a = rawUpload({ name: "a", held: true });
    const b = rawUpload({ name: "b", held: true });
    const pa = uploadImage(a.request, as(operator));
    const pb = uploadImage(b.request, as(operator));
    await waitForUploading(2);
    await expect(uploadImage(rawUpload({ name: "c" }).request, as(operator))).rejects.toMatchObject({
      code: "rate_limited",
      message: expect.stringMatching(/already have 2 uploads running \(at most 2 at once\)/),
    });
    expect(await db().image.count({ where: { name: "c" } })).toBe(0);
    // Another user is not affected by this user's uploads.
    await expect(uploadImage(rawUpload({ name: "d" }).request, as(admin))).resolves.toMatchObject({ status: "ready" });
    a.release();
    b.release();
    await expect(pa).resolves.toMatchObject({ status: "ready" });
    await expect(pb).resolves.toMatchObject({ status: "ready" });

    // Several controllers: an upload another live controller receives counts, a dead controller's does not.
    await acquireLease(`${CONTROLLER_LEASE_PREFIX}ctl-b`, 60_000, "ctl-b");
    const base = { arch: "x86_64", format: "raw", status: "uploading", ownerId: operator.id };
    await db().image.create({ data: { ...base, name: "on-b", uploadControllerId: "ctl-b" } });
    await db().image.create({ data: { ...base, name: "on-dead", uploadControllerId: "ctl-dead" } });
    const e = rawUpload({ name: "e", held: true });
    const pe = uploadImage(e.request, as(operator));
    await waitForUploading(3);
    await expect(uploadImage(rawUpload({ name: "f" }).request, as(operator))).rejects.toMatchObject({
      code: "rate_limited",
    });
    e.release();
    await expect(pe).resolves.toMatchObject({ status: "ready" });
    process.env.POLYARCH_UPLOADS_PER_USER = "3";
    resetEnvForTests();
    await expect(uploadImage(rawUpload({ name: "g" }).request, as(operator))).resolves.toMatchObject({
      status: "ready",
    });
  });

  it("507 before any byte when the declared size does not fit beside the reserve", async () => {
    const free =
      Number(statfsSync(process.env.POLYARCH_DATA_DIR!).bavail) * statfsSync(process.env.POLYARCH_DATA_DIR!).bsize;
    // Leave 16 MiB usable; the upload declares 32 MiB.
    process.env.POLYARCH_IMAGE_STORE_RESERVE_GB = String((free - 16 * MiB) / GiB);
    resetEnvForTests();
    await expect(uploadImage(rawUpload({ name: "big", first: 32 * MiB }).request, as(operator))).rejects.toMatchObject({
      code: "insufficient_storage",
      message: expect.stringMatching(/image store has .* free and keeps .* for the database; this upload needs/),
    });
    await expectNoImages();
  });

  it("507 during an upload without Content-Length once the store reaches its reserve; nothing remains", async () => {
    const free =
      Number(statfsSync(process.env.POLYARCH_DATA_DIR!).bavail) * statfsSync(process.env.POLYARCH_DATA_DIR!).bsize;
    process.env.POLYARCH_IMAGE_STORE_RESERVE_GB = String((free - 32 * MiB) / GiB);
    resetEnvForTests();
    // Up to 1 GiB of zeros; the free-space check every 64 MiB stops it at the first or second.
    const up = rawUpload({ name: "stream", first: GiB, contentLength: false });
    await expect(uploadImage(up.request, as(operator))).rejects.toMatchObject({
      code: "insufficient_storage",
      message: expect.stringMatching(/the upload was stopped/),
    });
    await expectNoImages();
  });

  it("413 when the project's image quota would be exceeded: declared, and found only at the end", async () => {
    const p = await db().project.create({ data: { name: "small", imageQuotaBytes: BigInt(3 * MiB) } });
    await user(operator, [p.id]);
    await expect(uploadImage(rawUpload({ name: "one", first: 2 * MiB }).request, as(operator))).resolves.toMatchObject({
      status: "ready",
    });
    expect((await db().image.findFirstOrThrow()).projectId).toBe(p.id);
    await expect(uploadImage(rawUpload({ name: "two", first: 2 * MiB }).request, as(operator))).rejects.toMatchObject({
      code: "too_large",
      message: expect.stringMatching(/^Project small uses 2 MiB of its 3 MiB image quota/),
    });
    const streamed = rawUpload({ name: "three", first: 2 * MiB, contentLength: false });
    await expect(uploadImage(streamed.request, as(operator))).rejects.toMatchObject({ code: "too_large" });
    expect(await db().image.count()).toBe(1);
    expect(readdirSync(imagesDir())).toHaveLength(1);
    // The default quota applies to projects without their own.
    const q = await db().project.create({ data: { name: "other" } });
    await db().projectMember.create({ data: { projectId: q.id, userId: operator.id } });
    process.env.POLYARCH_PROJECT_IMAGE_QUOTA_GB = String(MiB / GiB);
    resetEnvForTests();
    const r = rawUpload({ name: "four", first: 2 * MiB, fields: { projectId: q.id } });
    await expect(uploadImage(r.request, as(operator))).rejects.toMatchObject({
      message: expect.stringMatching(/^Project other uses 0 GiB of its 1 MiB/),
    });
    // An admin raises the project's own quota (PATCH /api/v1/projects/:id, the Projects page): it fits now.
    const dto = await updateProject(q.id, { imageQuotaGb: 3 / 1024, description: undefined }, as(admin));
    expect(dto).toMatchObject({ imageQuotaBytes: 3 * MiB, imageBytes: 0 });
    const again = rawUpload({ name: "four", first: 2 * MiB, fields: { projectId: q.id } });
    await expect(uploadImage(again.request, as(operator))).resolves.toMatchObject({ status: "ready" });
    expect(await getProject(admin, q.id)).toMatchObject({ imageBytes: 2 * MiB });
  });

  it("visibility and project: operators choose private or project in their own projects; only admins publish", async () => {
    const mine = await db().project.create({ data: { name: "mine" } });
    const theirs = await db().project.create({ data: { name: "theirs" } });
    await user(operator, [mine.id]);
    await expect(
      uploadImage(rawUpload({ name: "pub", fields: { visibility: "public" } }).request, as(operator)),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/Only admins may make an image public/),
    });
    await expect(
      uploadImage(rawUpload({ name: "x", fields: { projectId: theirs.id } }).request, as(operator)),
    ).rejects.toMatchObject({ code: "not_found" });
    await expectNoImages();
    const dflt = await uploadImage(rawUpload({ name: "default" }).request, as(operator));
    const priv = await uploadImage(
      rawUpload({ name: "priv", fields: { visibility: "private" } }).request,
      as(operator),
    );
    const pub = await uploadImage(
      rawUpload({ name: "pub", fields: { visibility: "public", projectId: theirs.id } }).request,
      as(admin),
    );
    const rows = await db().image.findMany({ select: { id: true, visibility: true, projectId: true, ownerId: true } });
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(dflt.id)).toMatchObject({ visibility: "project", projectId: mine.id, ownerId: operator.id });
    expect(byId.get(priv.id)).toMatchObject({ visibility: "private", projectId: mine.id });
    expect(byId.get(pub.id)).toMatchObject({ visibility: "public", projectId: theirs.id, ownerId: admin.id });
  });
});
