import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { HostsTable } from "@/components/lists/hosts-table";
import { requirePage } from "@/lib/server/page-guard";

export const metadata = { title: "Hosts" };

export default async function HostsPage() {
  await requirePage("read");
  return (
    <>
      <PageHeader title="Hosts" description="Hypervisor nodes of every architecture. A host runs guests of its own architecture natively (KVM) and others only under emulation." />
      <Suspense><HostsTable /></Suspense>
    </>
  );
}
