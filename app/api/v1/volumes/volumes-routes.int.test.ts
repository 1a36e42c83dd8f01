// The storage routes of issue 13 over HTTP semantics, against the REAL route handlers and fresh
// databases: for every new route the wrong role (a viewer: 403), the wrong project (an operator
// of another project: 404, like a missing id) and a cross-site browser write (403 / 415 with the
// admin's real session cookie) change nothing; the right operator gets the documented answer.
// Hosts have no agent (nothing listens): calls that reach the agent answer 503 and roll back.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "@/lib/server/testing/server-db";
import type { TestDatabase } from "@/prisma/test-db";
import { db, type Actor } from "@/lib/server/platform";
import { createToken, createUser } from "@/lib/server/identity";
import { addProjectMember, createProject } from "@/lib/server/projects";
import { insertTestHost, insertTestImage } from "@/lib/server/testing/rows";
import { createVm } from "@/lib/server/vms";
import { POST as authPost } from "@/app/api/auth/[...all]/route";
import { sessionCookie } from "@/lib/server/testing/session-cookie";
import * as volumesRoute from "@/app/api/v1/volumes/route";
import * as volumeRoute from "@/app/api/v1/volumes/[id]/route";
import * as vmVolumesRoute from "@/app/api/v1/vms/[id]/volumes/route";
import * as vmVolumeRoute from "@/app/api/v1/vms/[id]/volumes/[volumeId]/route";
import * as resizeRoute from "@/app/api/v1/vms/[id]/resize/route";
import * as mediaRoute from "@/app/api/v1/vms/[id]/media/route";

const SELF = "http://localhost:3000";
const FOREIGN = "http://localhost:8080";
type Handler = (req: Request, ctx: { params: Promise<never> }) => Promise<Response>;

describe.each(PROVIDERS)("storage routes on %s", (provider) => {
  let database: TestDatabase | undefined;
  const tokens: Record<"admin" | "opA" | "opB" | "viewerA", string> = { admin: "", opA: "", opB: "", viewerA: "" };
  let cookie = "";
  let vmId = "";
  let volumeId = "";
  let attachedId = "";
  let isoId = "";
  const savedPublicUrl = process.env.POLYARCH_PUBLIC_URL;

  beforeAll(async () => {
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    process.env.POLYARCH_PUBLIC_URL = SELF;
    database = await useFreshDatabase(provider);
    const { id: adminId } = await createUser({
      email: "admin@st.test",
      name: "Admin",
      role: "admin",
      password: "admin-password-1",
    });
    const admin: Actor = { id: adminId, email: "admin@st.test", name: "Admin", role: "admin", via: "session" };
    const who = { actor: admin, clientIp: null };
    const projectA = (await createProject({ name: "alpha", description: null }, who)).id;
    const projectB = (await createProject({ name: "beta", description: null }, who)).id;
    tokens.admin = (await createToken(admin, "t", 0, null)).token;
    for (const [key, role, project] of [
      ["opA", "operator", projectA],
      ["opB", "operator", projectB],
      ["viewerA", "viewer", projectA],
    ] as const) {
      const email = `${key.toLowerCase()}@st.test`;
      const { id } = await createUser({ email, name: key, role, password: "member-password-1" }, who);
      await addProjectMember(project, { userId: id }, who);
      tokens[key] = (await createToken({ id, email, name: key, role, via: "session" }, "t", 0, null)).token;
    }
    await insertTestHost({ name: "host-a" });
    const image = await insertTestImage();
    isoId = (await insertTestImage({ name: "installer", format: "iso" })).id;
    vmId = (
      await createVm(
        {
          name: "vm-a",
          arch: "x86_64",
          imageId: image.id,
          vcpus: 1,
          memoryMb: 256,
          diskGb: 1,
          networkId: null,
          allowEmulation: false,
          strategy: "spread",
          projectId: projectA,
        },
        who,
        { provision: false },
      )
    ).vm.id;
    await db().vm.update({ where: { id: vmId }, data: { status: "running", powerState: "running" } });
    volumeId = (
      await db().volume.create({ data: { name: "free", sizeGb: 2, projectId: projectA, status: "available" } })
    ).id;
    const host = await db().host.findFirstOrThrow();
    attachedId = (
      await db().volume.create({
        data: { name: "att", sizeGb: 2, hostId: host.id, vmId, projectId: projectA, status: "in-use" },
      })
    ).id;

    cookie = await sessionCookie(authPost, SELF, "admin@st.test", "admin-password-1");
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await releaseDatabase(database);
    if (savedPublicUrl === undefined) delete process.env.POLYARCH_PUBLIC_URL;
    else process.env.POLYARCH_PUBLIC_URL = savedPublicUrl;
  });

  async function send(
    handler: Handler,
    method: string,
    params: Record<string, string>,
    as: keyof typeof tokens | "cross-site" | "cross-site-text",
    body?: unknown,
  ) {
    const headers = new Headers({ host: "localhost:3000" });
    if (as === "cross-site") headers.set("origin", FOREIGN);
    if (as === "cross-site-text") headers.set("origin", SELF);
    if (as.startsWith("cross-site")) headers.set("cookie", cookie);
    else headers.set("authorization", `Bearer ${tokens[as as keyof typeof tokens]}`);
    if (body !== undefined)
      headers.set("content-type", as.startsWith("cross-site") ? "text/plain;charset=UTF-8" : "application/json");
    const res = await handler(
      new Request(`${SELF}/api/v1/x`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
      { params: Promise.resolve(params) as Promise<never> },
    );
    return {
      status: res.status,
      body: (await res.json()) as { error?: { code: string; message: string } } & Record<string, unknown>,
    };
  }

  /** Everything a write could change. */
  const state = async () => ({
    volumes: await db().volume.findMany({
      orderBy: { id: "asc" },
      select: { id: true, sizeGb: true, vmId: true, hostId: true, status: true },
    }),
    vm: await db().vm.findUniqueOrThrow({
      where: { id: vmId },
      select: { vcpus: true, memoryMb: true, diskGb: true, mediaImageId: true },
    }),
    host: await db().host.findFirstOrThrow({
      select: { allocatedCpus: true, allocatedMemoryMb: true, allocatedDiskGb: true },
    }),
  });

  const writes = () =>
    [
      ["POST /volumes", volumesRoute.POST, "POST", {}, { name: "new", sizeGb: 1, vmId }],
      ["PATCH /volumes/:id", volumeRoute.PATCH, "PATCH", { id: volumeId }, { sizeGb: 5 }],
      ["DELETE /volumes/:id", volumeRoute.DELETE, "DELETE", { id: volumeId }, undefined],
      ["POST /vms/:id/volumes", vmVolumesRoute.POST, "POST", { id: vmId }, { volumeId }],
      [
        "DELETE /vms/:id/volumes/:volumeId",
        vmVolumeRoute.DELETE,
        "DELETE",
        { id: vmId, volumeId: attachedId },
        undefined,
      ],
      ["POST /vms/:id/resize", resizeRoute.POST, "POST", { id: vmId }, { diskGb: 3 }],
      ["POST /vms/:id/media", mediaRoute.POST, "POST", { id: vmId }, { imageId: isoId }],
      ["DELETE /vms/:id/media", mediaRoute.DELETE, "DELETE", { id: vmId }, undefined],
    ] as const;

  it("every write: a viewer gets 403, another project's operator 404, a cross-site page 403/415; nothing changes", async () => {
    const before = await state();
    for (const [name, handler, method, params, body] of writes()) {
      const viewer = await send(handler as Handler, method, params, "viewerA", body);
      expect([name, viewer.status, viewer.body.error?.code]).toEqual([name, 403, "forbidden"]);
      const other = await send(handler as Handler, method, params, "opB", body);
      expect([name, other.status, other.body.error?.code]).toEqual([name, 404, "not_found"]);
      const cross = await send(handler as Handler, method, params, "cross-site", body ?? {});
      expect([name, cross.status, cross.body.error?.message]).toEqual([
        name,
        403,
        expect.stringMatching(/^Cross-site request refused: /),
      ]);
      if (body !== undefined) {
        const text = await send(handler as Handler, method, params, "cross-site-text", body);
        expect([name, text.status]).toEqual([name, 415]);
      }
    }
    expect(await state()).toEqual(before);
  });

  it("reads: members and admins see the volumes and media; other projects see none of them (404 / empty)", async () => {
    const list = await send(volumesRoute.GET as Handler, "GET", {}, "viewerA");
    expect((list.body.items as { name: string }[]).map((v) => v.name).sort()).toEqual(["att", "free"]);
    expect((await send(volumesRoute.GET as Handler, "GET", {}, "opB")).body.items).toEqual([]);
    const one = await send(volumeRoute.GET as Handler, "GET", { id: attachedId }, "viewerA");
    expect(one.body).toMatchObject({ name: "att", status: "in-use", vm: { id: vmId, name: "vm-a" } });
    expect((await send(volumeRoute.GET as Handler, "GET", { id: attachedId }, "opB")).status).toBe(404);
    const ofVm = await send(vmVolumesRoute.GET as Handler, "GET", { id: vmId }, "viewerA");
    expect((ofVm.body.items as { id: string }[]).map((v) => v.id)).toEqual([attachedId]);
    expect((await send(vmVolumesRoute.GET as Handler, "GET", { id: vmId }, "opB")).status).toBe(404);
    expect((await send(mediaRoute.GET as Handler, "GET", { id: vmId }, "viewerA")).body).toEqual({ vmId, image: null });
    expect((await send(mediaRoute.GET as Handler, "GET", { id: vmId }, "opB")).status).toBe(404);
  });

  it("the right operator: unplaced create/grow/delete succeed; agent-bound calls answer 503 or the 409/422 that applies", async () => {
    const made = await send(volumesRoute.POST as Handler, "POST", {}, "opA", { name: "scratch", sizeGb: 3 });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: "scratch", sizeGb: 3, host: null, status: "available" });
    const id = made.body.id as string;
    expect((await send(volumeRoute.PATCH as Handler, "PATCH", { id }, "opA", { sizeGb: 4 })).body.sizeGb).toBe(4);
    const shrink = await send(volumeRoute.PATCH as Handler, "PATCH", { id }, "opA", { sizeGb: 1 });
    expect([shrink.status, shrink.body.error?.message]).toEqual([
      409,
      "Volumes only grow: scratch has 4 GiB, 1 GiB would shrink it.",
    ]);
    const bad = await send(volumesRoute.POST as Handler, "POST", {}, "opA", { name: "x", sizeGb: 0 });
    expect([bad.status, bad.body.error?.code]).toEqual([400, "invalid"]);
    expect((await send(volumeRoute.DELETE as Handler, "DELETE", { id }, "opA")).body).toEqual({ id, deleted: true });
    const inUse = await send(volumeRoute.DELETE as Handler, "DELETE", { id: attachedId }, "opA");
    expect([inUse.status, inUse.body.error?.message]).toEqual([
      409,
      "Volume att is attached to vm-a; detach it first.",
    ]);
    const attach = await send(vmVolumesRoute.POST as Handler, "POST", { id: vmId }, "opA", { volumeId });
    expect([attach.status, attach.body.error?.message]).toEqual([503, expect.stringMatching(/not reachable/)]);
    const resize = await send(resizeRoute.POST as Handler, "POST", { id: vmId }, "opA", { vcpus: 2 });
    expect([resize.status, resize.body.error?.code]).toEqual([409, "conflict"]);
    const notIso = await send(mediaRoute.POST as Handler, "POST", { id: vmId }, "opA", {
      imageId: (await db().image.findFirstOrThrow({ where: { format: "kernel" } })).id,
    });
    expect([notIso.status, notIso.body.error?.code]).toEqual([422, "unprocessable"]);
    const insert = await send(mediaRoute.POST as Handler, "POST", { id: vmId }, "opA", { imageId: isoId });
    expect(insert.status).toBe(503);
    expect((await db().vm.findUniqueOrThrow({ where: { id: vmId } })).mediaImageId).toBeNull();
  });
});
