// Image visibility (issue 12, finding 5): who sees, boots and changes which image, on real
// SQLite and PostgreSQL. Operators of project A and B, a viewer of A, an admin, and each image's owner.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import type { Actor } from "../platform";
import type { Role } from "../../permissions";
import { imageListQuery } from "../../schemas/entities";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import { addUserToProjects, createProject, deleteProject, ensureDefaultProject } from "../projects";
import { createVm } from "../vms";
import { getVisibleImage, listImages } from "./catalog";
import { getImageFamily, listImageFamilies, resolveFamily } from "./families";
import { listImageHosts, evictImageFromHost } from "./host-caches";
import { deleteImage, updateImage } from "./lifecycle";
import { insertTestHost } from "../testing/rows";

async function user(name: string, role: Role, projectIds: string[]): Promise<Actor> {
  const email = `${name}@t.test`;
  await db().user.create({ data: { id: `u-${name}`, email, name, role } });
  await addUserToProjects(`u-${name}`, projectIds);
  return { id: `u-${name}`, email, name, role, via: "session" };
}

const vmInput = (name: string, image: { imageId?: string; family?: string }, projectId?: string) => ({
  name,
  arch: "x86_64" as const,
  ...image,
  vcpus: 1,
  memoryMb: 256,
  diskGb: 1,
  networkId: null,
  allowEmulation: false,
  strategy: "spread" as const,
  projectId,
});

const query = imageListQuery.parse({ pageSize: 100 });
const as = (actor: Actor) => ({ actor, clientIp: "127.0.0.1" });

describe.each(PROVIDERS)("image visibility on %s", (provider) => {
  let database: TestDatabase | undefined;
  let admin: Actor, opA: Actor, opB: Actor, viewerA: Actor, defaultOp: Actor;
  let projectA: string, projectB: string, hostId: string;
  // privA: private of opA; projA: project A (opA); projB: project B (opB); privB: private of opB;
  // pub: public (opB); legacy: project visibility, no project, no owner (a row from before projects).
  let img: Record<"privA" | "projA" | "projB" | "privB" | "pub" | "legacy", string>;

  async function image(
    name: string,
    visibility: string,
    projectId: string | null,
    ownerId: string | null,
    family?: string,
  ) {
    const row = await db().image.create({
      data: {
        name,
        arch: "x86_64",
        format: "kernel",
        status: "ready",
        minMemoryMb: 64,
        visibility,
        projectId,
        ownerId,
        family: family ?? null,
      },
    });
    return row.id;
  }

  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    admin = await user("admin", "admin", []);
    await ensureDefaultProject();
    projectA = (await createProject({ name: "alpha", description: null }, as(admin))).id;
    projectB = (await createProject({ name: "beta", description: null }, as(admin))).id;
    opA = await user("opa", "operator", [projectA]);
    opB = await user("opb", "operator", [projectB]);
    viewerA = await user("viewera", "viewer", [projectA]);
    defaultOp = await user("defop", "operator", [DEFAULT_PROJECT_ID]);
    hostId = (await insertTestHost()).id;
    img = {
      privA: await image("a-private", "private", projectA, opA.id),
      projA: await image("a-project", "project", projectA, opA.id),
      projB: await image("b-project", "project", projectB, opB.id),
      privB: await image("b-private", "private", projectB, opB.id, "secret-fam"),
      pub: await image("b-public", "public", projectB, opB.id),
      legacy: await image("legacy", "project", null, null),
    };
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  const names = async (actor: Actor) => (await listImages(query, actor)).items.map((i) => i.name).sort();

  it("lists only what each caller may see; totals count the same rows", async () => {
    expect(await names(opA)).toEqual(["a-private", "a-project", "b-public"]);
    expect(await names(opB)).toEqual(["b-private", "b-project", "b-public"]);
    expect(await names(viewerA)).toEqual(["a-project", "b-public"]);
    // No project on the row = the default project, as for VMs.
    expect(await names(defaultOp)).toEqual(["b-public", "legacy"]);
    expect(await names(admin)).toHaveLength(6);
    expect((await listImages(query, opA)).total).toBe(3);
  });

  it("get: an invisible image answers exactly like a missing one (404)", async () => {
    const missing = await getVisibleImage("no-such-image", opA).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: "not_found" });
    for (const id of [img.privB, img.projB, img.legacy]) {
      await expect(getVisibleImage(id, opA)).rejects.toMatchObject({
        code: "not_found",
        message: `Image ${id} does not exist.`,
      });
    }
    await expect(getVisibleImage(img.privA, viewerA)).rejects.toMatchObject({ code: "not_found" });
    expect(await getVisibleImage(img.projA, viewerA)).toMatchObject({ name: "a-project", projectId: projectA });
    expect(await getVisibleImage(img.pub, opA)).toMatchObject({ visibility: "public" });
    expect(await getVisibleImage(img.privB, admin)).toMatchObject({ visibility: "private" });
  });

  it("boot: an operator of A cannot create a VM from B's private or project image; public and own images boot", async () => {
    for (const id of [img.privB, img.projB]) {
      await expect(createVm(vmInput("x", { imageId: id }), as(opA), { provision: false })).rejects.toMatchObject({
        code: "not_found",
        message: `Image ${id} does not exist.`,
      });
    }
    expect(await db().vm.count()).toBe(0);
    const denied = await db().auditEvent.findFirst({
      where: { action: "vm.create", result: "denied", targetId: img.privB },
    });
    expect(denied).toMatchObject({ userId: opA.id });
    await createVm(vmInput("from-pub", { imageId: img.pub }), as(opA), { provision: false });
    await createVm(vmInput("from-own", { imageId: img.privA }), as(opA), { provision: false });
    await createVm(vmInput("b-own", { imageId: img.privB }), as(opB), { provision: false });
    await createVm(vmInput("admin-any", { imageId: img.privB }, projectA), as(admin), { provision: false });
    expect(await db().vm.count()).toBe(4);
  });

  it("family resolution sees only the caller's builds; B's private family does not exist for A", async () => {
    await expect(resolveFamily("secret-fam", "x86_64", opA)).rejects.toMatchObject({
      code: "not_found",
      message: 'Image family "secret-fam" does not exist.',
    });
    await expect(createVm(vmInput("x", { family: "secret-fam" }), as(opA), { provision: false })).rejects.toMatchObject(
      { code: "not_found" },
    );
    expect(await db().vm.count()).toBe(0);
    expect((await resolveFamily("secret-fam", "x86_64", opB)).id).toBe(img.privB);
    await expect(getImageFamily("secret-fam", opA)).rejects.toMatchObject({ code: "not_found" });
    expect((await listImageFamilies(opA)).map((f) => f.family)).toEqual([]);
    expect((await listImageFamilies(opB)).map((f) => f.family)).toEqual(["secret-fam"]);

    // A family whose aarch64 build is B's private one: for A it has x86_64 only, and never
    // resolves to B's build (nor names it).
    await db().image.update({ where: { id: img.pub }, data: { family: "mixed" } });
    await db().image.create({
      data: {
        name: "b-secret-arm",
        arch: "aarch64",
        format: "kernel",
        status: "ready",
        visibility: "private",
        projectId: projectB,
        ownerId: opB.id,
        family: "mixed",
      },
    });
    expect(await resolveFamily("mixed", "any", opA)).toEqual(["x86_64"]);
    expect(await resolveFamily("mixed", "any", opB)).toEqual(["x86_64", "aarch64"]);
    const err = await resolveFamily("mixed", "aarch64", opA).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "unprocessable" });
    expect(String((err as Error).message)).not.toContain("b-secret-arm");
    expect((await getImageFamily("mixed", opA)).builds.map((b) => b.arch)).toEqual(["x86_64"]);
  });

  it("image→hosts: 404 for an invisible image; only VMs of the caller's projects are named", async () => {
    const vmA = (await createVm(vmInput("vm-of-a", { imageId: img.pub }, projectA), as(admin), { provision: false }))
      .vm;
    const vmB = (await createVm(vmInput("vm-of-b", { imageId: img.pub }, projectB), as(admin), { provision: false }))
      .vm;
    await db().vm.updateMany({ where: { id: { in: [vmA.id, vmB.id] } }, data: { hostId } });
    await db().hostImage.create({ data: { hostId, imageId: img.pub, state: "ready", sizeBytes: 10n } });
    await db().hostImage.create({ data: { hostId, imageId: img.privB, state: "ready", sizeBytes: 10n } });

    const usedBy = async (actor: Actor) => (await listImageHosts(img.pub, actor)).items[0]!.usedBy.map((v) => v.name);
    expect(await usedBy(opA)).toEqual(["vm-of-a"]);
    expect(await usedBy(opB)).toEqual(["vm-of-b"]);
    expect(await usedBy(viewerA)).toEqual(["vm-of-a"]);
    expect(await usedBy(admin)).toEqual(["vm-of-a", "vm-of-b"]);
    expect((await listImageHosts(img.pub, defaultOp)).items[0]).toMatchObject({ inUse: true, usedBy: [] });
    await expect(listImageHosts(img.privB, opA)).rejects.toMatchObject({
      code: "not_found",
      message: `Image ${img.privB} does not exist.`,
    });
    // Evicting: invisible → 404; in use → names only the caller's VMs.
    await expect(evictImageFromHost(img.privB, hostId, as(opA))).rejects.toMatchObject({ code: "not_found" });
    const busy = await evictImageFromHost(img.pub, hostId, as(opA)).catch((e: unknown) => e);
    expect(busy).toMatchObject({ code: "conflict" });
    expect((busy as Error).message).toContain("vm-of-a");
    expect((busy as Error).message).toContain("1 VM of other projects");
    expect((busy as Error).message).not.toContain("vm-of-b");
  });

  it("only the owner or an admin renames, re-families, changes visibility or deletes", async () => {
    // Visible to A but B's: 403 with a clear message; invisible: 404.
    await expect(updateImage(img.pub, { name: "hijacked" }, as(opA))).rejects.toMatchObject({
      code: "forbidden",
      message: "Only the owner of image b-public or an admin may change or delete it.",
    });
    await expect(updateImage(img.pub, { family: "mine" }, as(opA))).rejects.toMatchObject({ code: "forbidden" });
    await expect(updateImage(img.pub, { visibility: "private" }, as(opA))).rejects.toMatchObject({ code: "forbidden" });
    await expect(deleteImage(img.pub, as(opA))).rejects.toMatchObject({ code: "forbidden" });
    await expect(updateImage(img.privB, { name: "x" }, as(opA))).rejects.toMatchObject({ code: "not_found" });
    await expect(deleteImage(img.projB, as(opA))).rejects.toMatchObject({ code: "not_found" });
    // A member of the project who is not the owner: still 403.
    const opA2 = await user("opa2", "operator", [projectA]);
    await expect(updateImage(img.projA, { name: "x" }, as(opA2))).rejects.toMatchObject({ code: "forbidden" });
    expect(await db().image.findUniqueOrThrow({ where: { id: img.pub } })).toMatchObject({
      name: "b-public",
      visibility: "public",
    });
    expect(await db().auditEvent.count({ where: { result: "denied", targetType: "image", userId: opA.id } })).toBe(6);

    // The owner and an admin may.
    expect(await updateImage(img.pub, { name: "b-renamed", visibility: "project" }, as(opB))).toMatchObject({
      name: "b-renamed",
      visibility: "project",
    });
    expect(await names(opA)).toEqual(["a-private", "a-project"]);
    // Publishing to everyone is an admin's call, also for the owner.
    await expect(updateImage(img.projA, { visibility: "public" }, as(opA))).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/^Only admins may make an image public/),
    });
    expect(await updateImage(img.projA, { visibility: "private" }, as(admin))).toMatchObject({ visibility: "private" });
    expect(await names(viewerA)).toEqual([]);
    await deleteImage(img.privB, as(opB));
    await deleteImage(img.projA, as(admin));
    expect(await db().image.count()).toBe(4);
  });

  it("a family slot taken by an image the caller cannot see is 'already in use', nothing more", async () => {
    const err = await updateImage(img.projA, { family: "secret-fam" }, as(opA)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "conflict", message: expect.stringMatching(/already in use/) });
    expect((err as Error).message).not.toContain("b-private");
    // When the caller can see the holder, naming it helps.
    await db().image.update({ where: { id: img.pub }, data: { family: "shared-fam" } });
    await expect(updateImage(img.projA, { family: "shared-fam" }, as(opA))).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining('"b-public"'),
    });
  });

  it("a project that still holds images is not deleted, and says why", async () => {
    await expect(deleteProject(projectB, as(admin))).rejects.toMatchObject({
      code: "conflict",
      message: "Project beta still has 3 images; delete or move them first.",
    });
    expect(await db().image.count({ where: { projectId: projectB } })).toBe(3);
  });
});
