import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { updateProjectSchema } from "@/lib/schemas/projects";
import { deleteProject, getProject, updateProject } from "@/lib/server/projects";

// A project the caller is not a member of is a 404 (admins see all).
export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "project.get", targetType: "project" },
  ({ params, actor }) => getProject(actor, params.id),
);

export const PATCH = apiRoute<{ id: string }>(
  { permission: "project:manage", action: "project.update", targetType: "project" },
  async ({ req, params, actor, clientIp }) =>
    updateProject(params.id, await readJson(req, updateProjectSchema), { actor, clientIp }),
);

// 409 while the project still has VMs (and always for the default project).
export const DELETE = apiRoute<{ id: string }>(
  { permission: "project:manage", action: "project.delete", targetType: "project" },
  ({ params, actor, clientIp }) => deleteProject(params.id, { actor, clientIp }),
);
