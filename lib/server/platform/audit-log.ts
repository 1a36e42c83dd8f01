import "server-only";
import { z } from "zod";
import { auditListQuery } from "../../schemas/entities";
import type { auditEventDtoSchema } from "../../schemas/api";
import type { ListResult } from "../../schemas/list";
import { db } from "./db";
import { nameSearch, pageArgs } from "./list";

type AuditSource = z.input<typeof auditEventDtoSchema>;
export type AuditDto = AuditSource & { createdAt: Date };

/** `q` matches the action or the user's email. */
export async function listAudit(query: z.output<typeof auditListQuery>): Promise<ListResult<AuditDto>> {
  const where = {
    ...(query.status ? { result: query.status } : {}),
    ...(query.q ? { OR: [nameSearch(query.q, "action"), nameSearch(query.q, "userEmail")] } : {}),
  };
  const [items, total] = await Promise.all([
    db().auditEvent.findMany({
      where,
      orderBy: [{ [query.sort]: query.dir }, { id: "desc" }],
      ...pageArgs(query.page, query.pageSize),
    }),
    db().auditEvent.count({ where }),
  ]);
  return {
    items: items.map(
      (e) =>
        ({
          id: e.id,
          createdAt: e.createdAt,
          userId: e.userId,
          userEmail: e.userEmail,
          action: e.action,
          targetType: e.targetType,
          targetId: e.targetId,
          result: e.result as AuditSource["result"],
          clientIp: e.clientIp,
          details: e.details,
        }) satisfies AuditDto,
    ),
    total,
    page: query.page,
    pageSize: query.pageSize,
  };
}
