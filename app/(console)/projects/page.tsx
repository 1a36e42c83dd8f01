import { PageHeader } from "@/components/page-header";
import { ProjectsAdmin } from "@/components/projects-admin";
import { requirePage } from "@/lib/server/web";
import { listProjects } from "@/lib/server/projects";
import { listUsers } from "@/lib/server/identity";
import {
  addMemberAction,
  createProjectAction,
  deleteProjectAction,
  removeMemberAction,
  setProjectQuotaAction,
  updateProjectAction,
} from "./actions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("projects");

export default async function ProjectsPage() {
  const actor = await requirePage("project:manage");
  const t = await getTranslations("pages");
  const [projects, users] = await Promise.all([listProjects(actor), listUsers()]);
  return (
    <>
      <PageHeader title={t("projects.title")} description={t("projects.description")} />
      <ProjectsAdmin
        projects={projects.items.map((p) => ({ ...p, createdAt: p.createdAt.toISOString(), members: p.members ?? [] }))}
        users={users.map((u) => ({ id: u.id, email: u.email, role: u.role }))}
        actions={{
          create: createProjectAction,
          update: updateProjectAction,
          setQuota: setProjectQuotaAction,
          remove: deleteProjectAction,
          addMember: addMemberAction,
          removeMember: removeMemberAction,
        }}
      />
    </>
  );
}
