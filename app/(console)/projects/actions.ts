"use server";
import { defineAction } from "@/lib/server/web";
import {
  createProjectSchema,
  projectMemberActionSchema,
  projectQuotaActionSchema,
  projectRefSchema,
  updateProjectActionSchema,
} from "@/lib/schemas/projects";
import {
  addProjectMember,
  createProject,
  deleteProject,
  removeProjectMember,
  updateProject,
} from "@/lib/server/projects";

const base = { permission: "project:manage" as const, targetType: "project", revalidate: ["/projects", "/vms"] };

export const createProjectAction = defineAction(
  { ...base, schema: createProjectSchema, action: "project.create" },
  (input, who) => createProject(input, who),
);

export const updateProjectAction = defineAction(
  { ...base, schema: updateProjectActionSchema, action: "project.update" },
  ({ id, ...input }, who) => updateProject(id, input, who),
);

export const setProjectQuotaAction = defineAction(
  { ...base, schema: projectQuotaActionSchema, action: "project.update" },
  ({ id, imageQuotaGb }, who) => updateProject(id, { imageQuotaGb, description: undefined }, who),
);

export const deleteProjectAction = defineAction(
  { ...base, schema: projectRefSchema, action: "project.delete" },
  (input, who) => deleteProject(input.id, who),
);

export const addMemberAction = defineAction(
  { ...base, schema: projectMemberActionSchema, action: "project.member.add" },
  (input, who) => addProjectMember(input.id, { userId: input.userId }, who),
);

export const removeMemberAction = defineAction(
  { ...base, schema: projectMemberActionSchema, action: "project.member.remove" },
  (input, who) => removeProjectMember(input.id, { userId: input.userId }, who),
);
