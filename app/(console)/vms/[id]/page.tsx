import { notFound } from "next/navigation";
import { VmDetailView } from "@/components/vm-detail";
import { VmMetricsPanel } from "@/components/metrics-chart";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { canSeeVm } from "@/lib/server/vms";
import {
  deleteVmAction,
  poweroffVmAction,
  rebootVmAction,
  retryVmAction,
  startVmAction,
  stopVmAction,
} from "../actions";

export const metadata = { title: "Virtual machine" };

export default async function VmPage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await requirePage("read");
  const { id } = await params;
  // A VM outside the actor's projects is "not found", like one that does not exist (lib/server/vms/access.ts).
  if (!(await canSeeVm(actor, id, { action: "vm.view" }))) notFound();
  return (
    <div className="space-y-6">
      {/* The buttons are a convenience: the actions check vm:operate and the VM's project themselves. */}
      <VmDetailView
        id={id}
        actions={
          can(actor.role, "vm:operate")
            ? {
                start: startVmAction,
                stop: stopVmAction,
                reboot: rebootVmAction,
                poweroff: poweroffVmAction,
                retry: retryVmAction,
                remove: deleteVmAction,
              }
            : undefined
        }
      />
      <VmMetricsPanel vmId={id} />
    </div>
  );
}
