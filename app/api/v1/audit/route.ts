import { apiRoute } from "@/lib/server/web";
import { parseQuery } from "@/lib/server/platform";
import { auditListQuery } from "@/lib/schemas/entities";
import { listAudit } from "@/lib/server/platform";

export const GET = apiRoute({ permission: "audit:read", action: "audit.list" }, ({ req }) =>
  listAudit(
    parseQuery(
      req,
      auditListQuery.extend({
        sort: auditListQuery.shape.sort.default("createdAt"),
        dir: auditListQuery.shape.dir.default("desc"),
      }),
    ),
  ),
);
