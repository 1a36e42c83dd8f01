import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import type { Actor } from "../platform";
import { vmListQuery } from "../../schemas/entities";
import { DEFAULT_PROJECT_ID } from "../../schemas/projects";
import { createProject } from "../projects";
import { createVm, deleteVm, vmAction } from ".";
import { getVm, listVms } from "./queries";
import { issueConsoleTicket } from "../consoles";
import { canSeeVm, requireVmAccess, taskScopeFor, vmScopeFor } from "./access";
import { insertTestHost, insertTestImage, insertTestUser } from "../testing/rows";

const user = insertTestUser;

const vmInput = (imageId: string, name: string, projectId?: string) => ({
  name,
  arch: "x86_64" as const,
  imageId,
  vcpus: 1,
  memoryMb: 256,
  diskGb: 1,
  networkId: null,
  allowEmulation: false,
  strategy: "spread" as const,
  projectId,
});

describe.each(PROVIDERS)("per-VM rights via projects on %s", (provider) => {
  let database: TestDatabase | undefined;
  let admin: Actor, opA: Actor, opB: Actor, viewerA: Actor, loner: Actor;
  let projectA: string, projectB: string, imageId: string;
  let vmA: string, vmB: string;

  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    admin = await user("admin@t.test", "admin", []);
    const who = { actor: admin, clientIp: null };
    projectA = (await createProject({ name: "alpha", description: null }, who)).id;
    projectB = (await createProject({ name: "beta", description: null }, who)).id;
    opA = await user("opa@t.test", "operator", [projectA]);
    opB = await user("opb@t.test", "operator", [projectB]);
    viewerA = await user("viewera@t.test", "viewer", [projectA]);
    loner = await user("loner@t.test", "operator", []);
    await insertTestHost();
    imageId = (await insertTestImage()).id;
    vmA = (await createVm(vmInput(imageId, "vm-a", projectA), who, { provision: false })).vm.id;
    vmB = (await createVm(vmInput(imageId, "vm-b"), { actor: opB, clientIp: null }, { provision: false })).vm.id;
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  const snapshot = async (id: string) => {
    const vm = await db().vm.findUnique({
      where: { id },
      select: { status: true, desiredState: true, hostId: true, projectId: true },
    });
    return { vm, tasks: await db().task.count({ where: { vmId: id } }) };
  };

  it("an operator of project B cannot list, get, operate, delete or open the console of a VM in project A; nothing changes", async () => {
    const before = await snapshot(vmA);
    const list = await listVms(vmListQuery.parse({}), opB);
    expect(list.items.map((v) => v.name)).toEqual(["vm-b"]);
    expect(list.total).toBe(1);
    // Not found, exactly like a VM that does not exist: the existence of vm-a does not leak.
    const missing = await requireVmAccess(opB, "no-such-vm", "read").catch((e) => e);
    const hidden = await requireVmAccess(opB, vmA, "read").catch((e) => e);
    expect(hidden).toMatchObject({ code: "not_found", status: 404 });
    expect(hidden.message).toBe(missing.message.replace("no-such-vm", vmA));
    expect(await canSeeVm(opB, vmA)).toBe(false);
    for (const action of ["start", "stop", "reboot", "poweroff", "retry"] as const) {
      await expect(vmAction(vmA, action, { actor: opB, clientIp: null })).rejects.toMatchObject({ code: "not_found" });
    }
    await expect(deleteVm(vmA, { actor: opB, clientIp: null })).rejects.toMatchObject({ code: "not_found" });
    await expect(issueConsoleTicket(vmA, opB, true, null)).rejects.toMatchObject({ code: "not_found" });
    await expect(issueConsoleTicket(vmA, opB, false, null)).rejects.toMatchObject({ code: "not_found" });
    // Nothing changed: same VM row, no task, no console ticket audited as a success.
    expect(await snapshot(vmA)).toEqual(before);
    expect(await db().auditEvent.count({ where: { action: "vm.console", result: "success" } })).toBe(0);
    // Every refusal is in the audit log, attributed to the caller.
    const denied = await db().auditEvent.findMany({ where: { userId: opB.id, result: "denied", targetId: vmA } });
    expect(denied.map((d) => d.action).sort()).toEqual(
      [
        "vm.access",
        "vm.access",
        "vm.console",
        "vm.console",
        "vm.delete",
        "vm.poweroff",
        "vm.reboot",
        "vm.retry",
        "vm.start",
        "vm.stop",
      ].sort(),
    );
  });

  it("a member of project A may read it, get a console ticket and operate it; a viewer member reads but may not operate (403)", async () => {
    expect((await listVms(vmListQuery.parse({}), opA)).items.map((v) => v.name)).toEqual(["vm-a"]);
    expect(await requireVmAccess(opA, vmA, "vm:operate")).toMatchObject({ id: vmA, projectId: projectA });
    expect((await getVm(vmA)).project).toEqual({ id: projectA, name: "alpha" });
    const ticket = await issueConsoleTicket(vmA, opA, true, null);
    expect(ticket.write).toBe(true);
    const viewerTicket = await issueConsoleTicket(vmA, viewerA, true, null);
    expect(viewerTicket.write).toBe(false);
    // The viewer sees the VM (same project) but its role lacks vm:operate: forbidden, not hidden.
    expect(await canSeeVm(viewerA, vmA)).toBe(true);
    await expect(vmAction(vmA, "stop", { actor: viewerA, clientIp: null })).rejects.toMatchObject({
      code: "forbidden",
      status: 403,
    });
    await expect(deleteVm(vmA, { actor: viewerA, clientIp: null })).rejects.toMatchObject({ code: "forbidden" });
    // The member's action passes the access check and reaches the host (whose agent is not running here).
    await db().vm.update({ where: { id: vmA }, data: { status: "running" } });
    await expect(vmAction(vmA, "stop", { actor: opA, clientIp: null })).rejects.toMatchObject({ code: "unavailable" });
    // A never-placed VM deletes without an agent: the member's delete goes through.
    await db().vm.update({ where: { id: vmA }, data: { status: "error", hostId: null } });
    await deleteVm(vmA, { actor: opA, clientIp: null });
    expect(await db().vm.findUnique({ where: { id: vmA } })).toBeNull();
  });

  it("admins see and act on every project", async () => {
    const list = await listVms(vmListQuery.parse({ sort: "name" }), admin);
    expect(list.items.map((v) => [v.name, v.project?.name])).toEqual([
      ["vm-a", "alpha"],
      ["vm-b", "beta"],
    ]);
    expect(await vmScopeFor(admin)).toEqual({});
    expect(await taskScopeFor(admin)).toEqual({});
    for (const id of [vmA, vmB]) expect(await canSeeVm(admin, id)).toBe(true);
    expect((await issueConsoleTicket(vmB, admin, true, null)).write).toBe(true);
    // The project filter composes with the scope.
    expect((await listVms(vmListQuery.parse({ projectId: projectB }), admin)).items.map((v) => v.name)).toEqual([
      "vm-b",
    ]);
    expect((await listVms(vmListQuery.parse({ projectId: projectA }), opB)).total).toBe(0);
  });

  it("VM create: into a project of one's own (default: the first one), never into someone else's; admins anywhere", async () => {
    expect((await db().vm.findUniqueOrThrow({ where: { id: vmB } })).projectId).toBe(projectB);
    await expect(
      createVm(vmInput(imageId, "sneaky", projectA), { actor: opB, clientIp: null }, { provision: false }),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(
      createVm(vmInput(imageId, "ghost", "no-such-project"), { actor: opB, clientIp: null }, { provision: false }),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(
      createVm(vmInput(imageId, "nowhere"), { actor: loner, clientIp: null }, { provision: false }),
    ).rejects.toMatchObject({ code: "forbidden" });
    expect(await db().vm.count({ where: { name: { in: ["sneaky", "ghost", "nowhere"] } } })).toBe(0);
    expect((await db().host.findFirstOrThrow()).allocatedCpus).toBe(2);
    expect(
      await db().auditEvent.count({
        where: { userId: opB.id, action: "vm.create", result: "denied", targetId: projectA },
      }),
    ).toBe(1);
    // An admin in no project creates in the default project unless told otherwise.
    const { vm } = await createVm(vmInput(imageId, "adm"), { actor: admin, clientIp: null }, { provision: false });
    expect(vm.project?.id).toBe(DEFAULT_PROJECT_ID);
    const inB = await createVm(
      vmInput(imageId, "adm-b", projectB),
      { actor: admin, clientIp: null },
      { provision: false },
    );
    expect(inB.vm.project?.id).toBe(projectB);
    expect((await listVms(vmListQuery.parse({}), opB)).items.map((v) => v.name).sort()).toEqual(["adm-b", "vm-b"]);
  });

  it("a VM without a project belongs to the default project: its members see it, others do not", async () => {
    const legacy = await db().vm.create({
      data: { name: "legacy", arch: "x86_64", vcpus: 1, memoryMb: 128, diskGb: 1, status: "stopped" },
    });
    const defaultMember = await user("old@t.test", "viewer", [DEFAULT_PROJECT_ID]);
    expect((await listVms(vmListQuery.parse({}), defaultMember)).items.map((v) => v.name)).toEqual(["legacy"]);
    expect((await listVms(vmListQuery.parse({ projectId: DEFAULT_PROJECT_ID }), defaultMember)).total).toBe(1);
    expect(await canSeeVm(defaultMember, legacy.id)).toBe(true);
    expect(await canSeeVm(opB, legacy.id)).toBe(false);
    expect((await listVms(vmListQuery.parse({}), opB)).items.map((v) => v.name)).toEqual(["vm-b"]);
  });

  it("task lists are scoped the same way (tasks of visible VMs, and one's own)", async () => {
    const scopeB = await taskScopeFor(opB);
    const tasks = await db().task.findMany({ where: scopeB, include: { vm: { select: { name: true } } } });
    expect(tasks.map((t) => t.vm?.name)).toEqual(["vm-b"]);
    const all = await db().task.count({ where: await taskScopeFor(admin) });
    expect(all).toBe(2);
  });
});
