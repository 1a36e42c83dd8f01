import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import type { Actor } from "../platform";
import { createUser } from "../identity";
import {
  DEFAULT_PROJECT_ID,
  createProjectSchema,
  projectMemberSchema,
  updateProjectSchema,
} from "../../schemas/projects";
import {
  addProjectMember,
  backfillDefaultProject,
  createProject,
  deleteProject,
  ensureDefaultProject,
  getProject,
  listProjects,
  removeProjectMember,
  updateProject,
} from "./projects";

const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };
const who = { actor: admin, clientIp: "127.0.0.1" };

describe.each(PROVIDERS)("projects on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("backfills a database from before projects once: VMs and users join the default project; later removals stick", async () => {
    await db().user.createMany({
      data: [1, 2, 3].map((i) => ({ id: `old-${i}`, email: `old${i}@t.test`, name: `old ${i}`, role: "viewer" })),
    });
    await db().vm.createMany({
      data: [1, 2].map((i) => ({ name: `legacy-${i}`, arch: "aarch64", vcpus: 1, memoryMb: 128, diskGb: 1 })),
    });
    expect(await db().project.count()).toBe(0);

    expect(await backfillDefaultProject()).toEqual({ users: 3, vms: 2 });
    expect(await db().project.findUniqueOrThrow({ where: { id: DEFAULT_PROJECT_ID } })).toMatchObject({
      name: "default",
    });
    expect(await db().projectMember.count({ where: { projectId: DEFAULT_PROJECT_ID } })).toBe(3);
    expect(await db().vm.count({ where: { projectId: DEFAULT_PROJECT_ID } })).toBe(2);

    // An admin takes old-1 out of the default project; a restart does not put them back, but a
    // VM written without a project (by a tool) is still adopted.
    await removeProjectMember(DEFAULT_PROJECT_ID, { userId: "old-1" }, who);
    await db().vm.create({ data: { name: "tool-made", arch: "x86_64", vcpus: 1, memoryMb: 128, diskGb: 1 } });
    expect(await backfillDefaultProject()).toEqual({ users: 0, vms: 1 });
    expect(
      await db().projectMember.findMany({ where: { projectId: DEFAULT_PROJECT_ID }, orderBy: { userId: "asc" } }),
    ).toMatchObject([{ userId: "old-2" }, { userId: "old-3" }]);
    // Concurrent starts find the same default project.
    const all = await Promise.all([ensureDefaultProject(), ensureDefaultProject(), ensureDefaultProject()]);
    expect(new Set(all.map((p) => p.id))).toEqual(new Set([DEFAULT_PROJECT_ID]));
  });

  it("new users join the default project unless told otherwise", async () => {
    const { id } = await createUser(
      { email: "new@t.test", name: "New", role: "operator", password: "new-password-1" },
      who,
    );
    expect(await db().projectMember.findMany({ where: { userId: id } })).toMatchObject([
      { projectId: DEFAULT_PROJECT_ID },
    ]);
    const p = await createProject(createProjectSchema.parse({ name: "lab" }), who);
    const { id: only } = await createUser(
      { email: "lab@t.test", name: "Lab", role: "viewer", password: "lab-password-1" },
      who,
      { projectIds: [p.id] },
    );
    expect(await db().projectMember.findMany({ where: { userId: only } })).toMatchObject([{ projectId: p.id }]);
    const { id: none } = await createUser(
      { email: "none@t.test", name: "None", role: "viewer", password: "none-password-1" },
      who,
      { projectIds: [] },
    );
    expect(await db().projectMember.count({ where: { userId: none } })).toBe(0);
  });

  it("a project with VMs cannot be deleted (nothing changes); an empty one can; the default project never", async () => {
    const p = await createProject(createProjectSchema.parse({ name: "busy", description: "" }), who);
    expect(p).toMatchObject({ name: "busy", description: null, vmCount: 0, memberCount: 0, isDefault: false });
    const vm = await db().vm.create({
      data: { name: "inside", arch: "x86_64", vcpus: 1, memoryMb: 128, diskGb: 1, projectId: p.id },
    });
    await expect(deleteProject(p.id, who)).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/busy still has 1 VM/),
    });
    expect(await db().project.findUnique({ where: { id: p.id } })).not.toBeNull();
    expect((await db().vm.findUniqueOrThrow({ where: { id: vm.id } })).projectId).toBe(p.id);
    // The database refuses it too (ON DELETE RESTRICT), whatever a caller does.
    await expect(db().project.delete({ where: { id: p.id } })).rejects.toBeTruthy();

    await db().vm.delete({ where: { id: vm.id } });
    expect(await deleteProject(p.id, who)).toEqual({ id: p.id, deleted: true });
    expect(await db().project.findUnique({ where: { id: p.id } })).toBeNull();

    await ensureDefaultProject();
    await expect(deleteProject(DEFAULT_PROJECT_ID, who)).rejects.toMatchObject({ code: "conflict" });
    await expect(deleteProject("no-such", who)).rejects.toMatchObject({ code: "not_found" });
    const audit = await db().auditEvent.findMany({ where: { action: "project.delete" } });
    expect(audit.map((a) => a.result).sort()).toEqual(["error", "success"]);
  });

  it("rename, members and visibility; every mutation audited", async () => {
    const p = await createProject(createProjectSchema.parse({ name: "alpha" }), who);
    await createProject(createProjectSchema.parse({ name: "beta" }), who);
    await expect(createProject(createProjectSchema.parse({ name: "alpha" }), who)).rejects.toMatchObject({
      code: "conflict",
    });
    await expect(updateProject(p.id, updateProjectSchema.parse({ name: "beta" }), who)).rejects.toMatchObject({
      code: "conflict",
    });
    expect(
      await updateProject(p.id, updateProjectSchema.parse({ name: "gamma", description: "renamed" }), who),
    ).toMatchObject({ name: "gamma", description: "renamed" });

    await db().user.create({ data: { id: "u-op", email: "op@t.test", name: "Op", role: "operator" } });
    const op: Actor = { id: "u-op", email: "op@t.test", name: "Op", role: "operator", via: "session" };
    expect(await addProjectMember(p.id, projectMemberSchema.parse({ email: "OP@t.test" }), who)).toMatchObject({
      userId: "u-op",
      added: true,
    });
    expect(await addProjectMember(p.id, projectMemberSchema.parse({ userId: "u-op" }), who)).toMatchObject({
      added: false,
    });
    await expect(addProjectMember(p.id, { userId: "nobody" }, who)).rejects.toMatchObject({ code: "not_found" });

    // A member sees their project (without the member list); not the others.
    expect((await listProjects(op)).items.map((x) => x.name)).toEqual(["gamma"]);
    expect((await getProject(op, p.id)).members).toBeUndefined();
    expect((await getProject(admin, p.id)).members?.map((m) => m.email)).toEqual(["op@t.test"]);
    const beta = (await listProjects(admin)).items.find((x) => x.name === "beta")!;
    await expect(getProject(op, beta.id)).rejects.toMatchObject({ code: "not_found" });

    await removeProjectMember(p.id, { userId: "u-op" }, who);
    await expect(removeProjectMember(p.id, { userId: "u-op" }, who)).rejects.toMatchObject({ code: "not_found" });
    expect((await listProjects(op)).items).toEqual([]);

    const actions = (await db().auditEvent.findMany({ where: { targetType: "project", result: "success" } }))
      .map((a) => a.action)
      .sort();
    expect(actions).toEqual([
      "project.create",
      "project.create",
      "project.member.add",
      "project.member.add",
      "project.member.remove",
      "project.update",
    ]);
    expect((await db().auditEvent.findFirstOrThrow({ where: { action: "project.update" } })).clientIp).toBe(
      "127.0.0.1",
    );
  });
});

describe("project schemas", () => {
  it("validates names and member references with zod", () => {
    expect(createProjectSchema.safeParse({ name: "" }).success).toBe(false);
    // Display names in any script (issue 17); control and bidi-override characters are refused.
    expect(createProjectSchema.parse({ name: "研发部 (一组)" }).name).toBe("研发部 (一组)");
    expect(createProjectSchema.safeParse({ name: "a\nb" }).success).toBe(false);
    expect(createProjectSchema.safeParse({ name: "a\u202eb" }).success).toBe(false);
    expect(createProjectSchema.safeParse({ name: "a".repeat(64) }).success).toBe(false);
    expect(createProjectSchema.parse({ name: "  Team A.1  " }).name).toBe("Team A.1");
    expect(updateProjectSchema.safeParse({}).success).toBe(false);
    expect(updateProjectSchema.safeParse({ name: "ok", extra: 1 }).success).toBe(false);
    expect(projectMemberSchema.safeParse({}).success).toBe(false);
    expect(projectMemberSchema.safeParse({ userId: "a", email: "a@b.c" }).success).toBe(false);
  });
});
