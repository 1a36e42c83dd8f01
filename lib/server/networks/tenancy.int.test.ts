// Network tenancy (issue 12, finding 6): project networks vs shared ones, who defines them, who sees
// them, and which networks a VM may attach to. Real SQLite and PostgreSQL (POLYARCH_TEST_PG_URL).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { createProject } from "../projects";
import { createVm } from "../vms";
import { createNetworkSchema, networkListQuery, updateNetworkSchema } from "../../schemas/networks";
import { createNetwork, deleteNetwork, getNetwork, listNetworks, updateNetwork } from ".";
import { insertTestHost, insertTestImage, insertTestUser } from "../testing/rows";

const user = insertTestUser;

const as = (actor: Actor) => ({ actor, clientIp: "127.0.0.1" });
const names = async (actor: Actor) =>
  (await listNetworks(networkListQuery.parse({ sort: "name" }), actor)).items.map((n) => n.name);

describe.each(PROVIDERS)("network tenancy on %s", (provider) => {
  let database: TestDatabase | undefined;
  let admin: Actor, opA: Actor, opB: Actor, viewerA: Actor;
  let projectA: string, projectB: string, imageId: string;

  const define = (actor: Actor, input: Record<string, unknown>) =>
    createNetwork(createNetworkSchema.parse(input), as(actor));
  const vmOn = (actor: Actor, networkId: string, projectId: string, name: string) =>
    createVm(
      {
        name,
        arch: "x86_64",
        imageId,
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        networkId,
        allowEmulation: false,
        strategy: "spread",
        projectId,
      },
      as(actor),
      { provision: false },
    );

  beforeEach(async () => {
    database = await useFreshDatabase(provider);
    admin = await user("admin@t.test", "admin", []);
    projectA = (await createProject({ name: "alpha", description: null }, as(admin))).id;
    projectB = (await createProject({ name: "beta", description: null }, as(admin))).id;
    opA = await user("opa@t.test", "operator", [projectA]);
    opB = await user("opb@t.test", "operator", [projectB]);
    viewerA = await user("viewera@t.test", "viewer", [projectA]);
    await insertTestHost();
    imageId = (await insertTestImage()).id;
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("operators define networks only in their own projects; shared networks are admin-only; viewers define none", async () => {
    const lanA = await define(opA, {
      name: "lan-a",
      vlanId: 10,
      cidr: "10.10.0.0/24",
      gateway: "10.10.0.1",
      projectId: projectA,
    });
    expect(lanA).toMatchObject({ projectId: projectA, projectName: "alpha" });

    // Shared (no projectId, null or ""): admins only.
    for (const projectId of [undefined, null, ""])
      await expect(
        define(opA, { name: "s", vlanId: 11, cidr: "10.11.0.0/24", gateway: "10.11.0.1", projectId }),
      ).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("Only admins") });
    // Another project's: answered like a missing project.
    await expect(
      define(opA, { name: "b", vlanId: 12, cidr: "10.12.0.0/24", gateway: "10.12.0.1", projectId: projectB }),
    ).rejects.toMatchObject({ code: "not_found", message: `Project ${projectB} does not exist.` });
    await expect(
      define(viewerA, { name: "v", vlanId: 13, cidr: "10.13.0.0/24", gateway: "10.13.0.1", projectId: projectA }),
    ).rejects.toMatchObject({ code: "forbidden" });
    const shared = await define(admin, { name: "shared", vlanId: 20, cidr: "10.20.0.0/24", gateway: "10.20.0.1" });
    expect(shared).toMatchObject({ projectId: null, projectName: null });
    await expect(
      define(admin, { name: "x", vlanId: 21, cidr: "10.21.0.0/24", gateway: "10.21.0.1", projectId: "nope" }),
    ).rejects.toMatchObject({ code: "not_found" });

    // VLAN ids stay globally unique, across projects too.
    await expect(
      define(opB, { name: "lan-b", vlanId: 10, cidr: "10.30.0.0/24", gateway: "10.30.0.1", projectId: projectB }),
    ).rejects.toMatchObject({ code: "conflict", message: "VLAN 10 is already used by a network of another project." });
    // ... and so do CIDRs; B's operator never learns the name of A's network.
    await expect(
      define(opB, { name: "lan-b", vlanId: 30, cidr: "10.10.0.0/16", gateway: "10.10.9.1", projectId: projectB }),
    ).rejects.toMatchObject({ code: "conflict", message: "10.10.0.0/16 overlaps a network of another project." });

    // Changing and deleting: the shared one only by admins, a project's only by its members (or admins).
    await expect(updateNetwork(shared.id, updateNetworkSchema.parse({ name: "mine" }), as(opA))).rejects.toMatchObject({
      code: "forbidden",
    });
    await expect(deleteNetwork(shared.id, as(opA))).rejects.toMatchObject({ code: "forbidden" });
    await expect(deleteNetwork(lanA.id, as(opB))).rejects.toMatchObject({
      code: "not_found",
      message: `Network ${lanA.id} does not exist.`,
    });
    await expect(updateNetwork(lanA.id, updateNetworkSchema.parse({ name: "x" }), as(opB))).rejects.toMatchObject({
      code: "not_found",
    });
    expect(await updateNetwork(lanA.id, updateNetworkSchema.parse({ name: "lan-a2" }), as(opA))).toMatchObject({
      name: "lan-a2",
    });
    const denied = await db().auditEvent.count({ where: { result: "denied", targetType: "network" } });
    expect(denied).toBeGreaterThanOrEqual(6);
    expect(await db().network.count()).toBe(2);
  });

  it("lists shared networks plus the caller's projects' (admins: all); another project's network is a 404", async () => {
    const lanA = await define(opA, {
      name: "lan-a",
      vlanId: 10,
      cidr: "10.10.0.0/24",
      gateway: "10.10.0.1",
      projectId: projectA,
    });
    const lanB = await define(opB, {
      name: "lan-b",
      vlanId: 11,
      cidr: "10.11.0.0/24",
      gateway: "10.11.0.1",
      projectId: projectB,
    });
    await define(admin, { name: "shared", vlanId: 20, cidr: "10.20.0.0/24", gateway: "10.20.0.1" });

    expect(await names(opA)).toEqual(["lan-a", "shared"]);
    expect(await names(viewerA)).toEqual(["lan-a", "shared"]);
    expect(await names(opB)).toEqual(["lan-b", "shared"]);
    expect(await names(admin)).toEqual(["lan-a", "lan-b", "shared"]);
    expect((await listNetworks(networkListQuery.parse({}), opA)).total).toBe(2);

    expect(await getNetwork(lanA.id, viewerA)).toMatchObject({ name: "lan-a" });
    await expect(getNetwork(lanB.id, opA)).rejects.toMatchObject({
      code: "not_found",
      message: `Network ${lanB.id} does not exist.`,
    });
  });

  it("a VM attaches only to its project's networks or shared ones; deleting a network in use stays refused", async () => {
    const lanA = await define(opA, {
      name: "lan-a",
      vlanId: 10,
      cidr: "10.10.0.0/24",
      gateway: "10.10.0.1",
      projectId: projectA,
    });
    const lanB = await define(opB, {
      name: "lan-b",
      vlanId: 11,
      cidr: "10.11.0.0/24",
      gateway: "10.11.0.1",
      projectId: projectB,
    });
    const shared = await define(admin, { name: "shared", vlanId: 20, cidr: "10.20.0.0/24", gateway: "10.20.0.1" });

    const onA = await vmOn(opA, lanA.id, projectA, "a1");
    expect(onA.vm.name).toBe("a1");
    await vmOn(opA, shared.id, projectA, "a2");
    // Operator A cannot see B's network: 404, as if it did not exist; nothing was created.
    await expect(vmOn(opA, lanB.id, projectA, "a3")).rejects.toMatchObject({
      code: "not_found",
      message: `Network ${lanB.id} does not exist.`,
    });
    // An admin sees every network, but a VM of project A still may not join B's network.
    await expect(vmOn(admin, lanB.id, projectA, "a4")).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringContaining("Network lan-b belongs to another project"),
    });
    expect(await db().vm.count()).toBe(2);
    expect(await db().nic.count({ where: { networkId: lanB.id } })).toBe(0);
    expect(await db().auditEvent.count({ where: { action: "vm.create", result: "denied", targetId: lanB.id } })).toBe(
      2,
    );

    await expect(deleteNetwork(lanA.id, as(opA))).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining("in use"),
    });
    await expect(deleteNetwork(lanB.id, as(opB))).resolves.toMatchObject({ deleted: true });
  });
});
