import { apiRoute, parseQuery } from "@/lib/server/http";
import { vmListQuery } from "@/lib/schemas/entities";
import { listVms } from "@/lib/server/vms";

export const GET = apiRoute({ permission: "read", action: "vm.list" }, ({ req }) => listVms(parseQuery(req, vmListQuery)));
