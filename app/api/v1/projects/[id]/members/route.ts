import { apiRoute } from "@/lib/server/web";
import { parseOrThrow, readJson } from "@/lib/server/platform";
import { projectMemberSchema } from "@/lib/schemas/projects";
import { searchParamsToObject } from "@/lib/schemas/list";
import { addProjectMember, removeProjectMember } from "@/lib/server/projects";

// POST {userId} or {email}: add a member (idempotent). DELETE ?userId=… or ?email=… (or the same JSON body): remove one.
export const POST = apiRoute<{ id: string }>(
  { permission: "project:manage", action: "project.member.add", targetType: "project" },
  async ({ req, params, actor, clientIp }) =>
    addProjectMember(params.id, await readJson(req, projectMemberSchema), { actor, clientIp }),
);

export const DELETE = apiRoute<{ id: string }>(
  { permission: "project:manage", action: "project.member.remove", targetType: "project" },
  async ({ req, params, actor, clientIp }) => {
    const query = searchParamsToObject(new URL(req.url).searchParams);
    const member =
      Object.keys(query).length > 0
        ? parseOrThrow(projectMemberSchema, query, "query")
        : await readJson(req, projectMemberSchema);
    return removeProjectMember(params.id, member, { actor, clientIp });
  },
);
