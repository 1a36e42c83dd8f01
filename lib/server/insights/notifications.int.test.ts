import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PROVIDERS, releaseDatabase, useFreshDatabase } from "../testing/server-db";
import type { TestDatabase } from "../../../prisma/test-db";
import { db } from "../platform";
import { toJsonSafe } from "../platform";
import { markNotificationsRead, notificationsFor, NOTIFICATION_ITEMS } from "./notifications";
import { createToken } from "../identity";
import { addUserToProjects } from "../projects";
import type { Actor } from "../platform";
import { notificationsDtoSchema } from "../../schemas/events";
import { GET as getNotifications } from "../../../app/api/v1/notifications/route";
import { POST as postRead } from "../../../app/api/v1/notifications/read/route";

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
const actor = (id: string, role: Actor["role"] = "viewer"): Actor => ({
  id,
  email: `${id}@t.test`,
  name: id,
  role,
  via: "token",
});

async function user(id: string, createdAt: Date) {
  await db().user.create({ data: { id, email: `${id}@t.test`, name: id, role: "viewer", createdAt } });
  return actor(id);
}

let seq = 0;
async function task(
  status: "failed" | "succeeded" | "running",
  finishedMinutesAgo: number,
  userId: string | null = null,
) {
  const finishedAt = status === "running" ? null : minutesAgo(finishedMinutesAgo);
  return db().task.create({
    data: {
      id: `t-${String(++seq).padStart(4, "0")}`,
      kind: "vm.start",
      status,
      userId,
      error: status === "failed" ? "agent unreachable" : null,
      createdAt: minutesAgo(finishedMinutesAgo + 1),
      finishedAt,
    },
  });
}

describe.each(PROVIDERS)("failed-task notifications on %s", (provider) => {
  let database: TestDatabase | undefined;
  beforeEach(async () => {
    seq = 0;
    database = await useFreshDatabase(provider);
  });
  afterEach(async () => {
    await releaseDatabase(database);
  });

  it("counts failures the user has not seen, newest first; succeeded and running tasks never notify", async () => {
    const ann = await user("ann", minutesAgo(600));
    await task("failed", 30);
    await task("failed", 10);
    await task("succeeded", 5);
    await task("running", 0);
    const n = await notificationsFor(ann);
    expect(n.unread).toBe(2);
    expect(n.items.map((i) => i.id)).toEqual(["t-0002", "t-0001"]);
    expect(n.items[0]).toMatchObject({ status: "failed", error: "agent unreachable" });
    expect(notificationsDtoSchema.strict().parse(toJsonSafe(n))).toEqual(toJsonSafe(n));
  });

  it("a new account does not inherit failures from before it existed", async () => {
    await task("failed", 120);
    const newcomer = await user("new", minutesAgo(60));
    expect((await notificationsFor(newcomer)).unread).toBe(0);
    await task("failed", 1);
    expect((await notificationsFor(newcomer)).unread).toBe(1);
  });

  it("mark read clears only up to what was shown; per-user; the marker never moves backwards", async () => {
    const ann = await user("ann", minutesAgo(600));
    const ben = await user("ben", minutesAgo(600));
    await task("failed", 30);
    const shown = await task("failed", 20);
    const later = await task("failed", 10); // failed after the dropdown was rendered
    // Ann marks read up to the newest failure she saw: the later one stays unread.
    const after = await markNotificationsRead(ann, shown.finishedAt!);
    expect(after.unread).toBe(1);
    expect(after.items.map((i) => i.id)).toEqual([later.id]);
    expect(after.seenUpTo.getTime()).toBe(shown.finishedAt!.getTime());
    // Ben is untouched.
    expect((await notificationsFor(ben)).unread).toBe(3);
    // An older marker does not move hers back.
    expect((await markNotificationsRead(ann, minutesAgo(500))).unread).toBe(1);
    // No upTo: everything until now; a future upTo is capped at now.
    expect((await markNotificationsRead(ann)).unread).toBe(0);
    const future = new Date(Date.now() + 3600_000);
    const capped = await markNotificationsRead(ben, future);
    expect(capped.unread).toBe(0);
    expect(capped.seenUpTo.getTime()).toBeLessThanOrEqual(Date.now());
    await task("failed", 0);
    expect((await notificationsFor(ann)).unread).toBe(1);
    expect((await notificationsFor(ben)).unread).toBe(1);
    expect(await db().notificationState.count()).toBe(2);
  });

  it("concurrent mark-read calls of one user settle on the latest marker", async () => {
    const ann = await user("ann", minutesAgo(600));
    const marks = [50, 40, 30, 20, 10].map((m) => minutesAgo(m));
    await Promise.all(marks.map((m) => markNotificationsRead(ann, m)));
    const state = await db().notificationState.findUniqueOrThrow({ where: { userId: "ann" } });
    expect(state.failedSeenUpTo.getTime()).toBe(marks[4]!.getTime());
  });

  it("lists at most the newest few but counts all", async () => {
    const ann = await user("ann", minutesAgo(600));
    for (let i = 0; i < NOTIFICATION_ITEMS + 5; i++) await task("failed", 100 - i);
    const n = await notificationsFor(ann);
    expect(n.unread).toBe(NOTIFICATION_ITEMS + 5);
    expect(n.items).toHaveLength(NOTIFICATION_ITEMS);
    expect(n.items[0]!.id).toBe(`t-${String(seq).padStart(4, "0")}`);
  });

  it("routes: 401 without credentials; each user reads and clears only their own", async () => {
    await user("ann", minutesAgo(600));
    await user("ben", minutesAgo(600));
    await user("cy", minutesAgo(600)); // in no project: other people's VMs do not notify them
    for (const id of ["ann", "ben"]) await addUserToProjects(id);
    const vm = await db().vm.create({ data: { name: "web", arch: "x86_64", vcpus: 1, memoryMb: 256, diskGb: 1 } });
    const c = await createToken(actor("cy"), "t", 0, null);
    const [a, b] = await Promise.all([
      createToken(actor("ann"), "t", 0, null),
      createToken(actor("ben"), "t", 0, null),
    ]);
    await db().task.update({ where: { id: (await task("failed", 5)).id }, data: { vmId: vm.id } });
    const get = (token?: string) =>
      getNotifications(
        new Request("http://localhost/api/v1/notifications", {
          headers: token ? { authorization: `Bearer ${token}` } : {},
        }),
        { params: Promise.resolve({}) },
      );
    const read = (token: string | undefined, body?: string) =>
      postRead(
        new Request("http://localhost/api/v1/notifications/read", {
          method: "POST",
          headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body,
        }),
        { params: Promise.resolve({}) },
      );

    expect((await get()).status).toBe(401);
    const anon = await read(undefined, "{}");
    expect(anon.status).toBe(401);
    expect(await anon.json()).toMatchObject({ error: { code: "unauthenticated" } });

    const before = await (await get(a.token)).json();
    expect(before.unread).toBe(1);
    expect(before.items[0].id).toBe("t-0001");
    expect((await read(a.token, JSON.stringify({ upTo: "yesterday" }))).status).toBe(400);
    expect((await read(a.token, JSON.stringify({ upTo: before.items[0].finishedAt, extra: 1 }))).status).toBe(400);
    const cleared = await read(a.token, JSON.stringify({ upTo: before.items[0].finishedAt }));
    expect(cleared.status).toBe(200);
    expect((await cleared.json()).unread).toBe(0);
    expect((await (await get(a.token)).json()).unread).toBe(0);
    expect((await (await get(b.token)).json()).unread).toBe(1);
    expect((await (await get(c.token)).json()).unread).toBe(0);
    // No body at all means "everything until now".
    expect((await (await read(b.token)).json()).unread).toBe(0);
  });
});
