import { PageHeader } from "@/components/page-header";
import { NetworksAdmin } from "@/components/networks-admin";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { createNetworkAction, deleteNetworkAction } from "./actions";

export const metadata = { title: "Networks" };

const DESCRIPTION =
  "VLAN-isolated IPv4 networks. A network belongs to a project (created by its operators) or is shared " +
  "(created by an admin); a VM attaches only to its project's networks or shared ones. Each VM NIC gets a " +
  "unique MAC and the lowest free address of the pool; its Open vSwitch port is tagged with the VLAN and " +
  "may send only from that MAC and address (port security).";

export default async function NetworksPage() {
  const actor = await requirePage("read");
  // The form is only a convenience: the actions and the API check the role and project themselves.
  const mayDefine = can(actor.role, "vm:create");
  return (
    <>
      <PageHeader title="Networks" description={DESCRIPTION} />
      <NetworksAdmin
        actions={mayDefine ? { create: createNetworkAction, remove: deleteNetworkAction } : undefined}
        isAdmin={actor.role === "admin"}
      />
    </>
  );
}
