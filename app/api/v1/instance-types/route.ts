import { apiRoute } from "@/lib/server/web";
import { parseQuery, readJson, toJsonSafe } from "@/lib/server/platform";
import { createInstanceTypeSchema, instanceTypeListQuery } from "@/lib/schemas/instance-types";
import { createInstanceType, listInstanceTypes } from "@/lib/server/instance-types";

// Every signed-in role (the wizard offers them); ?arch= keeps the types a VM of that arch may use.
export const GET = apiRoute({ permission: "read", action: "instanceType.list" }, ({ req }) =>
  listInstanceTypes(parseQuery(req, instanceTypeListQuery)),
);

export const POST = apiRoute(
  { permission: "instanceType:manage", action: "instanceType.create", targetType: "instanceType" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createInstanceTypeSchema);
    return Response.json(toJsonSafe(await createInstanceType(input, { actor, clientIp })), { status: 201 });
  },
);
