import { apiRoute, parseQuery } from "@/lib/server/http";
import { hostListQuery } from "@/lib/schemas/entities";
import { listHosts } from "@/lib/server/hosts";

export const GET = apiRoute({ permission: "read", action: "host.list" }, ({ req }) => listHosts(parseQuery(req, hostListQuery)));
