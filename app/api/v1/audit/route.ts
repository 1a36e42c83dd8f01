import { apiRoute, parseQuery } from "@/lib/server/http";
import { auditListQuery } from "@/lib/schemas/entities";
import { listAudit } from "@/lib/server/audit-log";

export const GET = apiRoute({ permission: "audit:read", action: "audit.list" }, ({ req }) =>
  listAudit(parseQuery(req, auditListQuery.extend({ sort: auditListQuery.shape.sort.default("createdAt"), dir: auditListQuery.shape.dir.default("desc") }))),
);
