import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { createUserSchema } from "@/lib/schemas/users";
import { createUser, listUsers } from "@/lib/server/identity";

export const GET = apiRoute({ permission: "user:manage", action: "user.list" }, () =>
  listUsers().then((items) => ({ items, total: items.length })),
);

export const POST = apiRoute(
  { permission: "user:manage", action: "user.create", targetType: "user" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createUserSchema);
    return Response.json(await createUser(input, { actor, clientIp }), { status: 201 });
  },
);
