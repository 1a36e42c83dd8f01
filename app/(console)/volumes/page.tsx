import { PageHeader } from "@/components/page-header";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { VolumesView } from "./volumes-view";

export const metadata = { title: "Volumes" };

const DESCRIPTION =
  "Data volumes of every architecture: a volume is a disk file on one host and attaches only to VMs on that " +
  "host (aarch64 or x86_64 alike). One made without a host lands on the host of the first VM it is attached " +
  "to. Its size counts against the host's disk from creation to deletion; volumes grow (online when attached " +
  "to a running VM) but never shrink, and are deleted only when detached.";

export default async function VolumesPage() {
  const actor = await requirePage("read");
  // The controls are a convenience: every write goes to the API, which checks role and project itself.
  return (
    <>
      <PageHeader title="Volumes" description={DESCRIPTION} />
      <VolumesView canCreate={can(actor.role, "vm:create")} canOperate={can(actor.role, "vm:operate")} />
    </>
  );
}
