// Rows the integration tests of VM rights, networks and images stand on: one online x86_64 host with
// room to spare and a ready, public kernel image. Only the database rows — no agent behind the host
// unless the test passes its own agentUrl.
import type { Role } from "../../permissions";
import { db, type Actor } from "../platform";
import { addUserToProjects } from "../projects";

type HostData = Parameters<ReturnType<typeof db>["host"]["create"]>[0]["data"];
type ImageData = Parameters<ReturnType<typeof db>["image"]["create"]>[0]["data"];
type NetworkData = Parameters<ReturnType<typeof db>["network"]["create"]>[0]["data"];

export function insertTestHost(overrides: Partial<HostData> = {}) {
  return db().host.create({
    data: {
      name: "h1",
      arch: "x86_64",
      cpuCount: 16,
      memoryMb: 65536,
      diskGb: 1000,
      status: "online",
      cpuAllocationRatio: 1,
      ramAllocationRatio: 1,
      nativeArches: '["x86_64"]',
      emulatedArches: "[]",
      agentUrl: "http://127.0.0.1:9", // nothing listens: provisioning is not what these tests are about
      ...overrides,
    } as HostData,
  });
}

/** Public, so VM-rights tests are not about image visibility (that is lib/server/images/visibility.int.test.ts). */
export function insertTestImage(overrides: Partial<ImageData> = {}) {
  return db().image.create({
    data: {
      name: "img",
      arch: "x86_64",
      format: "kernel",
      status: "ready",
      minMemoryMb: 64,
      minDiskGb: 1,
      visibility: "public",
      ...overrides,
    } as ImageData,
  });
}

/** A /24 on VLAN `vlan` (10.<vlan>.0.0/24, pool .10–.99), in `projectId` (null: shared). */
export function insertTestNetwork(vlan: number, projectId: string | null, overrides: Partial<NetworkData> = {}) {
  return db().network.create({
    data: {
      name: `net-${vlan}`,
      vlanId: vlan,
      cidr: `10.${vlan}.0.0/24`,
      gateway: `10.${vlan}.0.1`,
      poolStart: `10.${vlan}.0.10`,
      poolEnd: `10.${vlan}.0.99`,
      projectId,
      ...overrides,
    } as NetworkData,
  });
}

/** A user row with `role` in `projectIds`, as the Actor a session of theirs would be (id u-<local part>). */
export async function insertTestUser(email: string, role: Role, projectIds: string[]): Promise<Actor> {
  const u = await db().user.create({ data: { id: `u-${email.split("@")[0]}`, email, name: email, role } });
  await addUserToProjects(u.id, projectIds);
  return { id: u.id, email, name: email, role, via: "session" };
}
