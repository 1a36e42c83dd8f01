import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { toJsonSafe } from "../platform";
import { listEvents } from "./events";
import { createToken } from "../identity";
import { addUserToProjects } from "../projects";
import type { Actor } from "../platform";
import { eventListQuery } from "../../schemas/entities";
import { taskEventDtoSchema } from "../../schemas/events";
import { listOf } from "../../schemas/api";
import { GET as eventsRoute } from "../../../app/api/v1/events/route";

const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const q = (input: Record<string, string>) => eventListQuery.parse(input);

async function seed() {
  const users = await Promise.all(
    [
      ["u-alice", "alice@t.test", "operator"],
      ["u-bob", "bob@t.test", "viewer"],
    ].map(([id, email, role]) => db().user.create({ data: { id: id!, email: email!, name: id!, role: role! } })),
  );
  const hx = await db().host.create({
    data: { name: "x86-node-1", arch: "x86_64", cpuCount: 8, memoryMb: 16384, diskGb: 100 },
  });
  const ha = await db().host.create({
    data: { name: "arm-node-1", arch: "aarch64", cpuCount: 8, memoryMb: 16384, diskGb: 100 },
  });
  const web = await db().vm.create({
    data: { name: "web-1", arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1, hostId: hx.id },
  });
  const db1 = await db().vm.create({
    data: { name: "db-arm", arch: "aarch64", vcpus: 1, memoryMb: 256, diskGb: 1, hostId: ha.id },
  });
  // 30 tasks, one a minute: web-1 on the x86 host by alice, db-arm on the arm host by bob; every
  // third failed, every fifth still running, the rest succeeded.
  for (let i = 0; i < 30; i++) {
    const onWeb = i % 2 === 0;
    const status = i % 5 === 4 ? "running" : i % 3 === 0 ? "failed" : "succeeded";
    await db().task.create({
      data: {
        id: `task-${String(i).padStart(2, "0")}`,
        kind: i % 4 === 0 ? "vm.create" : "vm.start",
        status,
        vmId: onWeb ? web.id : db1.id,
        hostId: onWeb ? hx.id : ha.id,
        userId: onWeb ? users[0]!.id : users[1]!.id,
        error: status === "failed" ? `boom ${i}: host unreachable` : null,
        createdAt: at(i),
        startedAt: at(i),
        finishedAt: status === "running" ? null : at(i + 0.5),
      },
    });
  }
  // A task whose VM was deleted (vmId null) and whose host and user are gone: still listed.
  await db().task.create({
    data: {
      id: "task-orphan",
      kind: "vm.delete",
      status: "succeeded",
      hostId: "gone-host",
      userId: "gone-user",
      createdAt: at(100),
      finishedAt: at(101),
    },
  });
  return { users, hx, ha, web, db1 };
}

describe.each(PROVIDERS)("events (tasks) on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("lists newest first with VM, host and user resolved; paginates with a stable total", async () => {
    const { web, hx } = await seed();
    const first = await listEvents(q({ pageSize: "10" }));
    expect(first.total).toBe(31);
    expect(first.items.map((e) => e.id)).toEqual([
      "task-orphan",
      ...[29, 28, 27, 26, 25, 24, 23, 22, 21].map((i) => `task-${i}`),
    ]);
    expect(first.items[0]).toMatchObject({ vm: null, host: null, user: null, kind: "vm.delete" });
    const t28 = first.items.find((e) => e.id === "task-28")!;
    expect(t28).toMatchObject({
      kind: "vm.create",
      status: "succeeded",
      vm: { id: web.id, name: "web-1", arch: "x86_64" },
      host: { id: hx.id, name: "x86-node-1", arch: "x86_64" },
      user: { id: "u-alice", email: "alice@t.test" },
    });
    const pages = await Promise.all([1, 2, 3, 4].map((page) => listEvents(q({ pageSize: "10", page: String(page) }))));
    const ids = pages.flatMap((p) => p.items.map((e) => e.id));
    expect(ids).toHaveLength(31);
    expect(new Set(ids).size).toBe(31);
    expect(pages[3]!.items.map((e) => e.id)).toEqual(["task-00"]);
    expect((await listEvents(q({ pageSize: "10", page: "9" }))).items).toEqual([]);
    // The wire shape is exactly the documented one.
    expect(listOf(taskEventDtoSchema).strict().parse(toJsonSafe(first))).toBeTruthy();
    for (const item of toJsonSafe(first.items) as unknown[])
      expect(taskEventDtoSchema.strict().parse(item)).toEqual(item);
  });

  it("filters by result, VM, host, user, arch, time range and text, and they compose", async () => {
    const { web, hx, ha } = await seed();
    const ids = async (input: Record<string, string>) =>
      (await listEvents(q({ pageSize: "200", ...input }))).items.map((e) => e.id).sort();
    const expected = (pred: (i: number) => boolean) =>
      Array.from({ length: 30 }, (_, i) => i)
        .filter(pred)
        .map((i) => `task-${String(i).padStart(2, "0")}`)
        .sort();
    const failed = (i: number) => i % 5 !== 4 && i % 3 === 0;
    const running = (i: number) => i % 5 === 4;

    expect(await ids({ status: "failed" })).toEqual(expected(failed));
    expect(await ids({ status: "running" })).toEqual(expected(running));
    expect(await ids({ status: "succeeded" })).toEqual(
      [...expected((i) => !failed(i) && !running(i)), "task-orphan"].sort(),
    );
    expect(await ids({ vmId: web.id })).toEqual(expected((i) => i % 2 === 0));
    expect(await ids({ vm: "DB-A" })).toEqual(expected((i) => i % 2 === 1)); // case-insensitive on both databases
    expect(await ids({ hostId: ha.id })).toEqual(expected((i) => i % 2 === 1));
    expect(await ids({ host: "x86-node" })).toEqual(expected((i) => i % 2 === 0));
    expect(await ids({ host: "no-such-host" })).toEqual([]);
    expect(await ids({ userId: "u-bob" })).toEqual(expected((i) => i % 2 === 1));
    expect(await ids({ user: "ALICE@" })).toEqual(expected((i) => i % 2 === 0));
    expect(await ids({ user: "nobody" })).toEqual([]);
    expect(await ids({ arch: "arm64" })).toEqual(expected((i) => i % 2 === 1));
    expect(await ids({ from: at(10).toISOString(), to: at(20).toISOString() })).toEqual(
      expected((i) => i >= 10 && i < 20),
    );
    expect(await ids({ q: "unreachable" })).toEqual(expected(failed));
    // Composed: failed tasks of web-1 by alice on the x86 host in the first 20 minutes.
    expect(await ids({ status: "failed", vm: "web", user: "alice", hostId: hx.id, to: at(20).toISOString() })).toEqual(
      expected((i) => failed(i) && i % 2 === 0 && i < 20),
    );
    const page = await listEvents(q({ status: "failed", pageSize: "3", page: "2" }));
    expect(page.total).toBe(expected(failed).length);
    expect(page.items).toHaveLength(3);
  });

  it("sorts by finish time with running tasks last either way", async () => {
    await seed();
    for (const dir of ["asc", "desc"]) {
      const { items } = await listEvents(q({ sort: "finishedAt", dir, pageSize: "200" }));
      const finished = items.filter((e) => e.finishedAt);
      expect(items.slice(finished.length).every((e) => e.finishedAt === null)).toBe(true);
      const times = finished.map((e) => e.finishedAt!.getTime());
      expect(times).toEqual([...times].sort((a, b) => (dir === "asc" ? a - b : b - a)));
    }
  });

  it("refuses bad queries with clear messages", () => {
    const bad = (input: Record<string, string>) => {
      const r = eventListQuery.safeParse(input);
      expect(r.success).toBe(false);
      return r.error!.issues.map((i) => i.message);
    };
    expect(bad({ status: "exploded" })).toEqual(["status must be one of: running, succeeded, failed"]);
    expect(bad({ from: "yesterday" })).toEqual(["from must be an ISO 8601 date or date-time"]);
    expect(bad({ from: "2026-02-01", to: "2026-01-01" })).toEqual(["from must not be after to"]);
    expect(bad({ sort: "error" })[0]).toContain("sort must be one of");
    expect(eventListQuery.parse({})).toMatchObject({ sort: "createdAt", dir: "desc", page: 1, pageSize: 25 });
  });

  it("GET /api/v1/events: 401 without credentials, 200 for a viewer, 400 for a bad query; only tasks of VMs the caller may see", async () => {
    await seed();
    const viewer: Actor = { id: "u-bob", email: "bob@t.test", name: "bob", role: "viewer", via: "token" };
    const { token } = await createToken(viewer, "t", 0, null);
    const outsider: Actor = { id: "u-out", email: "out@t.test", name: "out", role: "viewer", via: "token" };
    await db().user.create({ data: { id: outsider.id, email: outsider.email, name: outsider.name, role: "viewer" } });
    const { token: outsiderToken } = await createToken(outsider, "t", 0, null);
    const call = (qs: string, headers: Record<string, string> = {}) =>
      eventsRoute(new Request(`http://localhost/api/v1/events${qs}`, { headers }), { params: Promise.resolve({}) });
    const anon = await call("");
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ error: { code: "unauthenticated" } });
    // Bob is in no project yet: he sees only the tasks he started himself (db-arm's, odd minutes).
    const own = await (await call("?status=failed&pageSize=200", { authorization: `Bearer ${token}` })).json();
    expect(own.items.map((e: { id: string }) => e.id).sort()).toEqual(["task-03", "task-15", "task-21", "task-27"]);
    await addUserToProjects("u-bob"); // the default project holds the VMs written without one
    const ok = await call("?status=failed&pageSize=2", { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect(body).toMatchObject({ total: 8, page: 1, pageSize: 2 });
    expect(body.items.every((e: { status: string }) => e.status === "failed")).toBe(true);
    expect((await (await call("", { authorization: `Bearer ${outsiderToken}` })).json()).total).toBe(0);
    const bad = await call("?from=not-a-date", { authorization: `Bearer ${token}` });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toContain("from must be an ISO 8601");
  });
});

describe("OpenAPI", () => {
  it("documents events, notifications and the summary", async () => {
    const { buildOpenApi } = await import("../../openapi");
    const doc = buildOpenApi("http://localhost") as {
      paths: Record<string, Record<string, { parameters?: { name: string }[] }>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.paths["/api/v1/events"]!.get!.parameters!.map((p) => p.name)).toEqual(
      expect.arrayContaining(["status", "vm", "host", "user", "from", "to", "page", "pageSize"]),
    );
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/summary", "/api/v1/notifications", "/api/v1/notifications/read"]),
    );
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(["TaskEvent", "TaskEventList", "Notifications", "Summary"]),
    );
  });
});
