import { notFound } from "next/navigation";
import { VmDetailView } from "@/components/vm-detail";
import { VmMetricsPanel } from "@/components/metrics-chart";
import { VmVolumes } from "@/components/vm-volumes";
import { VmMedia } from "@/components/vm-media";
import { VmResize } from "@/components/vm-resize";
import { VmSnapshots } from "@/components/vm-snapshots";
import { VmMigration } from "@/components/vm-migration";
import { VmHa } from "@/components/vm-ha";
import { VmNames } from "@/components/vm-names";
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
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("vm");

export default async function VmPage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await requirePage("read");
  const { id } = await params;
  // A VM outside the actor's projects is "not found", like one that does not exist (lib/server/vms/access.ts).
  if (!(await canSeeVm(actor, id, { action: "vm.view" }))) notFound();
  // Storage sections: viewers read, operators get the controls (the API checks the VM's project again).
  const canOperate = can(actor.role, "vm:operate");
  return (
    <div className="space-y-6">
      {/* The buttons are a convenience: the actions check vm:operate and the VM's project themselves. */}
      <VmDetailView
        id={id}
        actions={
          canOperate
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
      <div className="rounded-lg border border-slate-200 bg-white p-4">
        <VmNames vmId={id} canOperate={canOperate} />
      </div>
      <VmMetricsPanel vmId={id} />
      <div className="grid gap-6 lg:grid-cols-2">
        <div className="space-y-6 rounded-lg border border-slate-200 bg-white p-4">
          <VmVolumes vmId={id} canOperate={canOperate} />
        </div>
        <div className="space-y-6 rounded-lg border border-slate-200 bg-white p-4">
          <VmMedia vmId={id} canOperate={canOperate} />
          {canOperate && <VmResize vmId={id} />}
        </div>
      </div>
      <div className="rounded-lg border border-slate-200 bg-white p-4">
        <VmSnapshots vmId={id} canOperate={canOperate} />
      </div>
      {/* Moving VMs between hosts is the cloud operator's call (host:manage); HA is the VM operator's. */}
      <div className="space-y-6 rounded-lg border border-slate-200 bg-white p-4">
        <VmMigration vmId={id} canMigrate={can(actor.role, "host:manage")} />
        <VmHa vmId={id} canOperate={canOperate} />
      </div>
    </div>
  );
}
