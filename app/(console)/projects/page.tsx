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

export const metadata = { title: "Projects" };

const DESCRIPTION =
  "Projects scope VMs: operators and viewers see and act only on VMs of the projects they are members of; " +
  "admins see every project. New users join the default project.";

export default async function ProjectsPage() {
  const actor = await requirePage("project:manage");
  const [projects, users] = await Promise.all([listProjects(actor), listUsers()]);
  return (
    <>
      <PageHeader title="Projects" description={DESCRIPTION} />
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
