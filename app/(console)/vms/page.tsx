import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { VmsTable } from "@/components/lists/vms-table";
import { requirePage } from "@/lib/server/page-guard";

export const metadata = { title: "Virtual machines" };

export default async function VmsPage() {
  await requirePage("read");
  return (
    <>
      <PageHeader title="Virtual machines" description="Every VM with its architecture and the host it runs on. Emulated VMs run under TCG on a host of another architecture." />
      <Suspense><VmsTable /></Suspense>
    </>
  );
}
