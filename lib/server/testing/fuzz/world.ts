// The seeded minimum the API fuzz runs against (ADR 039): an admin with a Bearer token, a second user,
// a project, a network, an online host whose agent is a stand-in on 127.0.0.1, a ready image, a VM on
// that host with a snapshot, and a volume. Everything a route's path parameters can name.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { db, type Actor } from "../../platform";
import { createToken, createUser } from "../../identity";
import { createProject } from "../../projects";
import { createNetwork } from "../../networks";
import { createVm } from "../../vms";
import { createNetworkSchema } from "../../../schemas/networks";
import type { KnownIds } from "./arbitraries";

/** Answers as an agent does for a VM (power state only): create, power actions, delete, reads. */
export function startStubAgent(): Promise<{ url: string; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const id = decodeURIComponent((req.url ?? "").split("/")[3] ?? "");
      let action = "";
      try {
        action = String((JSON.parse(body) as { action?: unknown }).action ?? "");
      } catch {
        /* not every call has a JSON body */
      }
      const powerState = action === "stop" || action === "poweroff" ? "shutoff" : "running";
      const vm = { id, name: "vm", arch: "x86_64", powerState, emulated: false, accel: "kvm", vcpus: 1, memoryMb: 256 };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(req.method === "DELETE" ? {} : vm));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        stop: async () => {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

export type FuzzWorld = { admin: Actor; token: string; known: KnownIds };

export async function seedFuzzWorld(agentUrl: string): Promise<FuzzWorld> {
  const email = "admin@fuzz.test";
  const { id: adminId } = await createUser({ email, name: "Admin", role: "admin", password: "admin-password-1" });
  const admin: Actor = { id: adminId, email, name: "Admin", role: "admin", via: "token" };
  const who = { actor: admin, clientIp: "127.0.0.1" };
  const token = (await createToken(admin, "fuzz", 0, null)).token;
  // The fuzz may disable or demote users: never the admin it runs as, so only this one is offered.
  const other = await createUser(
    { email: "other@fuzz.test", name: "Other", role: "operator", password: "other-password-1" },
    who,
  );
  const host = await db().host.create({
    data: {
      name: "fuzz-host",
      arch: "x86_64",
      cpuCount: 16,
      memoryMb: 65536,
      diskGb: 1000,
      status: "online",
      nativeArches: '["x86_64"]',
      emulatedArches: "[]",
      agentUrl,
      lastHeartbeatAt: new Date(),
    },
  });
  const image = await db().image.create({
    data: {
      name: "img",
      family: "busybox",
      arch: "x86_64",
      format: "kernel",
      status: "ready",
      minMemoryMb: 64,
      minDiskGb: 1,
      visibility: "public",
    },
  });
  const network = await createNetwork(
    createNetworkSchema.parse({ name: "lan", vlanId: 100, cidr: "10.0.0.0/24", gateway: "10.0.0.1" }),
    who,
  );
  const project = await createProject({ name: "lab", description: null }, who);
  const { vm } = await createVm(
    {
      name: "vm-1",
      arch: "x86_64",
      imageId: image.id,
      vcpus: 1,
      memoryMb: 256,
      diskGb: 1,
      networkId: network.id,
      allowEmulation: false,
      strategy: "spread",
      projectId: project.id,
    },
    who,
    { provision: false },
  );
  await db().vm.update({ where: { id: vm.id }, data: { status: "running" } });
  // Created without provisioning: its create task would otherwise stay pending and look like work in flight.
  await db().task.updateMany({ where: { vmId: vm.id }, data: { status: "succeeded", finishedAt: new Date() } });
  const snapshot = await db().snapshot.create({
    data: { vmId: vm.id, name: "snap", memory: false, status: "ready", claimedDiskGb: 1 },
  });
  const volume = await db().volume.create({
    data: { name: "vol", sizeGb: 1, hostId: host.id, projectId: project.id, status: "available" },
  });
  const known: KnownIds = {
    host: [host.id],
    image: [image.id],
    family: ["busybox"],
    network: [network.id],
    project: [project.id],
    user: [other.id],
    vm: [vm.id],
    sid: [snapshot.id],
    snapshot: [snapshot.id],
    volume: [volume.id],
    any: [host.id, image.id, network.id, project.id, other.id, vm.id, volume.id],
  };
  return { admin, token, known };
}

/** Background work a 2xx started (provisioning, power tasks): wait for it, so the next case's fingerprint is its own. */
export async function settleTasks(timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await db().task.count({ where: { status: { in: ["running", "queued", "pending"] } } })) === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
