import { apiRoute } from "@/lib/server/web";
import { parseQuery } from "@/lib/server/platform";
import { hostListQuery } from "@/lib/schemas/entities";
import { listHosts } from "@/lib/server/hosts";

export const GET = apiRoute({ permission: "read", action: "host.list" }, ({ req }) =>
  listHosts(parseQuery(req, hostListQuery)),
);
