import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { HostsTable } from "@/components/lists/hosts-table";
import { JoinNode } from "@/components/join-node";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { getJoinToken } from "@/lib/server/hosts";
import { createJoinTokenAction, rotateJoinTokenAction } from "./actions";
import { agentFacingUrl, ensurePki } from "@/lib/server/platform";

export const metadata = { title: "Hosts" };

export default async function HostsPage() {
  const actor = await requirePage("read");
  const admin = can(actor.role, "host:manage");
  return (
    <>
      <PageHeader
        title="Hosts"
        description="Hypervisor nodes of every architecture. A host runs guests of its own architecture natively (KVM) and others only under emulation."
      />
      {admin && (
        <JoinNode
          token={await getJoinToken()}
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
