import "server-only";
import { z } from "zod";
import { auditListQuery } from "../../schemas/entities";
import type { ListResult } from "../../schemas/list";
import { db } from "./db";
import { nameSearch, pageArgs } from "./list";

export type AuditDto = { id: string; createdAt: Date; userEmail: string | null; action: string; targetType: string | null; targetId: string | null; result: string; clientIp: string | null; details: string | null };

/** `q` matches the action or the user's email. */
export async function listAudit(query: z.output<typeof auditListQuery>): Promise<ListResult<AuditDto>> {
  const where = {
    ...(query.status ? { result: query.status } : {}),
    ...(query.q ? { OR: [nameSearch(query.q, "action"), nameSearch(query.q, "userEmail")] } : {}),
  };
  const [items, total] = await Promise.all([
    db().auditEvent.findMany({ where, orderBy: [{ [query.sort]: query.dir }, { id: "desc" }], ...pageArgs(query.page, query.pageSize) }),
    db().auditEvent.count({ where }),
  ]);
  return { items, total, page: query.page, pageSize: query.pageSize };
}
