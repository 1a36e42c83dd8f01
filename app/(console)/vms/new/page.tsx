import { PageHeader } from "@/components/page-header";
import { VmWizard } from "@/components/vm-wizard";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { createVmAction } from "../actions";

export const metadata = { title: "Create VM" };

export default async function NewVmPage() {
  const actor = await requirePage("vm:create");
  return (
    <>
      <PageHeader
        title="Create a virtual machine"
        description="Pick the architecture first: only images and hosts of that architecture are offered."
      />
      <VmWizard create={createVmAction} canCustomSize={can(actor.role, "vm:customSize")} />
    </>
  );
}
