// Security groups (issue 18, ADR 052): list the caller's projects' groups, add and remove rules, attach
// groups to a VM. Title and description: pages.securityGroups; the manager's strings: securityGroups.
import { PageHeader } from "@/components/page-header";
import { SecurityGroupsManager } from "@/components/security-groups";
import { MAX_PAGE_SIZE } from "@/lib/schemas/list";
import { vmListQuery } from "@/lib/schemas/entities";
import { requirePage } from "@/lib/server/web";
import { listSecurityGroups } from "@/lib/server/security-groups";
import { listVms } from "@/lib/server/vms";
import { can } from "@/lib/permissions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";
import {
  addSecurityGroupRuleAction,
  createSecurityGroupAction,
  deleteSecurityGroupAction,
  deleteSecurityGroupRuleAction,
  setVmSecurityGroupsAction,
} from "./actions";

export const generateMetadata = pageTitle("securityGroups");

export default async function SecurityGroupsPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  const [groups, vms] = await Promise.all([
    listSecurityGroups(actor),
    listVms(vmListQuery.parse({ pageSize: MAX_PAGE_SIZE }), actor),
  ]);
  return (
    <>
      <PageHeader title={t("securityGroups.title")} description={t("securityGroups.description")} />
      <SecurityGroupsManager
        canManage={can(actor.role, "vm:create")}
        groups={groups.items.map((g) => ({
          id: g.id,
          name: g.name,
          description: g.description,
          projectId: g.projectId,
          vmCount: g.vmCount,
          rules: g.rules.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })),
        }))}
        vms={vms.items.map((v) => ({ id: v.id, name: v.name, projectId: v.project?.id ?? null }))}
        actions={{
          create: createSecurityGroupAction,
          remove: deleteSecurityGroupAction,
          addRule: addSecurityGroupRuleAction,
          removeRule: deleteSecurityGroupRuleAction,
          attach: setVmSecurityGroupsAction,
        }}
      />
    </>
  );
}
