import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { HostsTable } from "@/components/lists/hosts-table";
import { JoinNode } from "@/components/join-node";
import { PendingHosts } from "@/components/pending-hosts";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { hasClusterJoinToken } from "@/lib/server/hosts";
import { approveHostAction, createJoinTokenAction, rejectHostAction, rotateJoinTokenAction } from "./actions";
import { agentFacingUrl, db, ensurePki } from "@/lib/server/platform";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("hosts");

export default async function HostsPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  const admin = can(actor.role, "host:manage");
  const pending = admin
    ? await db().host.findMany({
        where: { approval: "pending" },
        orderBy: { createdAt: "asc" },
        select: { id: true, name: true, arch: true, machineId: true, agentUrl: true, createdAt: true },
      })
    : [];
  return (
    <>
      <PageHeader title={t("hosts.title")} description={t("hosts.description")} />
      {admin && (
        <PendingHosts
          hosts={pending.map((h) => ({ ...h, createdAt: h.createdAt.toISOString() }))}
          approve={approveHostAction}
          reject={rejectHostAction}
        />
      )}
      {admin && (
        <JoinNode
          hasBootstrapToken={await hasClusterJoinToken()}
          controllerUrl={agentFacingUrl()}
          caFingerprint={(await ensurePki()).caFingerprint}
          rotate={rotateJoinTokenAction}
          create={createJoinTokenAction}
        />
      )}
      <Suspense>
        <HostsTable />
      </Suspense>
    </>
  );
}
