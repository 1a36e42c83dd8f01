import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { VmsTable } from "@/components/lists/vms-table";
import Link from "next/link";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";

export const metadata = { title: "Virtual machines" };

export default async function VmsPage() {
  const actor = await requirePage("read");
  return (
    <>
      <PageHeader
        title="Virtual machines"
        description="Every VM with its architecture and the host it runs on. Emulated VMs run under TCG on a host of another architecture."
        actions={
          can(actor.role, "vm:create") ? (
            <Link
              href="/vms/new"
              className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700"
            >
              Create VM
            </Link>
          ) : undefined
        }
      />
      <Suspense>
        <VmsTable />
      </Suspense>
    </>
  );
}
