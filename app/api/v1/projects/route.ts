import { apiRoute } from "@/lib/server/web";
import { readJson, toJsonSafe } from "@/lib/server/platform";
import { createProjectSchema } from "@/lib/schemas/projects";
import { createProject, listProjects } from "@/lib/server/projects";

// Admins: every project (with members). Others: the projects they are members of (for the VM wizard).
export const GET = apiRoute({ permission: "read", action: "project.list" }, ({ actor }) => listProjects(actor));

export const POST = apiRoute(
  { permission: "project:manage", action: "project.create", targetType: "project" },
  async ({ req, actor, clientIp }) => {
    const input = await readJson(req, createProjectSchema);
    return Response.json(toJsonSafe(await createProject(input, { actor, clientIp })), { status: 201 });
  },
);
