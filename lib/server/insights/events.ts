import "server-only";
// "Tasks & events": every VM operation is a task (who started it, on which VM and host, how it
// ended). One DTO for the events page, the dashboard and the notifications bell.
import type { z } from "zod";
import type { Arch } from "../../arch";
import { eventListQuery } from "../../schemas/entities";
import type { TaskEventDto, TaskEventSource } from "../../schemas/events";
import type { ListResult } from "../../schemas/list";
import type { Prisma, Task } from "../../generated/sqlite/client";
import { db } from "../platform";
import { nameSearch, pageArgs } from "../platform";

export type TaskWhere = Prisma.TaskWhereInput;
export type EventListQuery = z.output<typeof eventListQuery>;

/** What the result filter means in Task.status terms. */
const STATUS_FOR_RESULT = { running: ["pending", "running"], succeeded: ["succeeded"], failed: ["failed"] } as const;

// A name filter on hosts or users resolves to at most this many ids (a filter that broad is not a filter).
const MAX_FILTER_IDS = 1000;

export const taskInclude = { vm: { select: { id: true, name: true, arch: true } } } as const;
type TaskRow = Task & { vm: { id: string; name: string; arch: string } | null };

/** The DTO as handed over, with Dates (toJsonSafe turns them into the ISO strings of TaskEventDto). */
export type TaskEvent = TaskEventSource & { createdAt: Date; startedAt: Date | null; finishedAt: Date | null };

/** Tasks with their VM, host and user resolved in two batched lookups (Task.hostId/userId carry no relation). */
export async function toTaskEventDtos(rows: TaskRow[]): Promise<TaskEvent[]> {
  const hostIds = [...new Set(rows.map((r) => r.hostId).filter((id): id is string => Boolean(id)))];
  const userIds = [...new Set(rows.map((r) => r.userId).filter((id): id is string => Boolean(id)))];
  const [hosts, users] = await Promise.all([
    hostIds.length
      ? db().host.findMany({ where: { id: { in: hostIds } }, select: { id: true, name: true, arch: true } })
      : [],
    userIds.length ? db().user.findMany({ where: { id: { in: userIds } }, select: { id: true, email: true } }) : [],
  ]);
  const hostById = new Map(hosts.map((h) => [h.id, h]));
  const userById = new Map(users.map((u) => [u.id, u]));
  return rows.map((r) => {
    const host = r.hostId ? hostById.get(r.hostId) : undefined;
    const user = r.userId ? userById.get(r.userId) : undefined;
    return {
      id: r.id,
      kind: r.kind,
      status: r.status as TaskEventDto["status"],
      error: r.error,
      createdAt: r.createdAt,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      vm: r.vm ? { id: r.vm.id, name: r.vm.name, arch: r.vm.arch as Arch } : null,
      host: host ? { id: host.id, name: host.name, arch: host.arch as Arch } : null,
      user: user ? { id: user.id, email: user.email } : null,
    } satisfies TaskEventSource;
  });
}

/** The Prisma filter for a query, or null when a name filter matches nothing (the answer is empty). */
export async function eventWhere(query: EventListQuery): Promise<TaskWhere | null> {
  const and: TaskWhere[] = [];
  if (query.status) and.push({ status: { in: [...STATUS_FOR_RESULT[query.status]] } });
  if (query.vmId) and.push({ vmId: query.vmId });
  if (query.vm) and.push({ vm: nameSearch(query.vm) });
  if (query.arch) and.push({ vm: { arch: query.arch } });
  if (query.hostId) and.push({ hostId: query.hostId });
  if (query.host) {
    const hosts = await db().host.findMany({
      where: nameSearch(query.host),
      select: { id: true },
      take: MAX_FILTER_IDS,
    });
    if (hosts.length === 0) return null;
    and.push({ hostId: { in: hosts.map((h) => h.id) } });
  }
  if (query.userId) and.push({ userId: query.userId });
  if (query.user) {
    const users = await db().user.findMany({
      where: nameSearch(query.user, "email"),
      select: { id: true },
      take: MAX_FILTER_IDS,
    });
    if (users.length === 0) return null;
    and.push({ userId: { in: users.map((u) => u.id) } });
  }
  if (query.from) and.push({ createdAt: { gte: query.from } });
  if (query.to) and.push({ createdAt: { lt: query.to } });
  if (query.q) and.push({ OR: [nameSearch(query.q, "kind"), nameSearch(query.q, "error")] });
  return and.length ? { AND: and } : {};
}

/** One page of tasks, newest first by default. `scope` narrows to what the caller may see. */
export async function listEvents(query: EventListQuery, scope: TaskWhere = {}): Promise<ListResult<TaskEvent>> {
  const filter = await eventWhere(query);
  if (filter === null) return { items: [], total: 0, page: query.page, pageSize: query.pageSize };
  const where: TaskWhere = { AND: [scope, filter] };
  // finishedAt is null while a task runs: keep those last either way, the same on SQLite and PostgreSQL.
  const order =
    query.sort === "finishedAt"
      ? { finishedAt: { sort: query.dir, nulls: "last" as const } }
      : { [query.sort]: query.dir };
  const [rows, total] = await Promise.all([
    db().task.findMany({
      where,
      orderBy: [order, { id: "desc" }],
      ...pageArgs(query.page, query.pageSize),
      include: taskInclude,
    }),
    db().task.count({ where }),
  ]);
  return { items: await toTaskEventDtos(rows), total, page: query.page, pageSize: query.pageSize };
}
