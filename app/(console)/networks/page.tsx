import { PageHeader } from "@/components/page-header";
import { NetworksAdmin } from "@/components/networks-admin";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { createNetworkAction, deleteNetworkAction } from "./actions";

export const metadata = { title: "Networks" };

const DESCRIPTION =
  "VLAN-isolated IPv4 networks. Each VM NIC gets a unique MAC and the lowest free address of the pool; " +
  "its Open vSwitch port is tagged with the VLAN.";

export default async function NetworksPage() {
  const actor = await requirePage("read");
  // The form is only a convenience: the actions and the API check "network:manage" themselves.
  const admin = can(actor.role, "network:manage");
  return (
    <>
      <PageHeader title="Networks" description={DESCRIPTION} />
      <NetworksAdmin actions={admin ? { create: createNetworkAction, remove: deleteNetworkAction } : undefined} />
    </>
  );
}
