// Every spec the controller sends an agent carries each NIC's security-group firewall (ADR 052), so a
// VM created, moved (live or cold), restarted by HA or re-sent for a resize has its ports filtered from
// the moment they are plugged — not only after the next change of its groups.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db, type Actor } from "../platform";
import { insertTestHost, insertTestImage, insertTestNetwork } from "../testing/rows";
import { createVmSchema } from "../../schemas/vms";
import { createVm, specFor } from ".";

const admin: Actor = { id: "u-admin", email: "admin@t.test", name: "Admin", role: "admin", via: "session" };

describe.each(PROVIDERS)("the firewall in the VM spec on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("each NIC gets the union of the VM's groups, remote groups as member addresses; no group = null", async () => {
    const host = await insertTestHost();
    const image = await insertTestImage();
    const project = await db().project.create({ data: { name: "p" } });
    const net = await insertTestNetwork(21, project.id);
    const vm = async (name: string, ip: string, mac: string) =>
      db().vm.create({
        data: {
          name,
          arch: "x86_64",
          vcpus: 1,
          memoryMb: 128,
          diskGb: 1,
          imageId: image.id,
          hostId: host.id,
          projectId: project.id,
          nics: { create: [{ networkId: net.id, mac, ip }] },
        },
      });
    const web = await vm("web", "10.21.0.10", "52:54:00:21:00:10");
    const db1 = await vm("db", "10.21.0.11", "52:54:00:21:00:11");
    const loose = await vm("loose", "10.21.0.12", "52:54:00:21:00:12");
    const webGroup = await db().securityGroup.create({
      data: {
        name: "web",
        projectId: project.id,
        rules: {
          create: [
            { direction: "out", protocol: "any" },
            { direction: "in", protocol: "tcp", portMin: 443, portMax: 443, remoteCidr: "0.0.0.0/0" },
          ],
        },
      },
    });
    const dbGroup = await db().securityGroup.create({
      data: {
        name: "db",
        projectId: project.id,
        rules: {
          create: [{ direction: "in", protocol: "tcp", portMin: 5432, portMax: 5432, remoteGroupId: webGroup.id }],
        },
      },
    });
    await db().vmSecurityGroup.createMany({
      data: [
        { vmId: web.id, groupId: webGroup.id },
        { vmId: db1.id, groupId: dbGroup.id },
        { vmId: db1.id, groupId: webGroup.id },
      ],
    });

    const spec = await specFor(db1.id);
    expect(spec.nics!).toHaveLength(1);
    const rules = spec.nics![0]!.firewall?.rules ?? [];
    expect(rules).toHaveLength(3);
    expect(rules).toContainEqual({
      direction: "in",
      protocol: "tcp",
      portMin: 5432,
      portMax: 5432,
      // the web group's members: web and db itself
      remoteCidrs: expect.arrayContaining(["10.21.0.10/32", "10.21.0.11/32"]),
    });
    expect(rules).toContainEqual({ direction: "out", protocol: "any", remoteCidrs: ["0.0.0.0/0"] });
    expect((await specFor(web.id)).nics![0]!.firewall?.rules).toHaveLength(2);
    // A VM in no group: null (the agent unfilters the port), not absent (that would keep a stale one).
    const looseSpec = await specFor(loose.id);
    expect(looseSpec.nics![0]).toHaveProperty("firewall", null);
  });

  it("a VM created in groups has them before its first spec; another project's group or a missing one is refused, leaving nothing", async () => {
    await insertTestHost();
    const image = await insertTestImage();
    const [mine, theirs] = await Promise.all(["mine", "theirs"].map((name) => db().project.create({ data: { name } })));
    const net = await insertTestNetwork(22, mine!.id);
    const group = (projectId: string, name: string) =>
      db().securityGroup.create({
        data: { name, projectId, rules: { create: [{ direction: "in", protocol: "icmp", remoteCidr: "10.0.0.0/8" }] } },
      });
    const ok = await group(mine!.id, "ping");
    const foreign = await group(theirs!.id, "other");
    const who = { actor: admin, clientIp: null };
    const request = (securityGroupIds: string[]) =>
      createVmSchema.parse({
        name: "sg-vm",
        arch: "x86_64",
        imageId: image.id,
        vcpus: 1,
        memoryMb: 128,
        diskGb: 1,
        networkId: net.id,
        projectId: mine!.id,
        securityGroupIds,
      });

    await expect(createVm(request([ok.id, foreign.id]), who, { provision: false })).rejects.toMatchObject({
      code: "forbidden",
    });
    await expect(createVm(request(["no-such-group"]), who, { provision: false })).rejects.toMatchObject({
      code: "not_found",
    });
    expect([await db().vm.count(), await db().nic.count(), await db().vmSecurityGroup.count()]).toEqual([0, 0, 0]);
    expect(() => request([ok.id, ok.id])).toThrow(/listed twice/);

    const created = await createVm(request([ok.id]), who, { provision: false });
    expect(await db().vmSecurityGroup.findMany({ where: { vmId: created.vm.id }, select: { groupId: true } })).toEqual([
      { groupId: ok.id },
    ]);
    expect((await specFor(created.vm.id)).nics![0]!.firewall).toEqual({
      rules: [{ direction: "in", protocol: "icmp", remoteCidrs: ["10.0.0.0/8"] }],
    });
  });
});
