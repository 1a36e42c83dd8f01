import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { AuditTable } from "@/components/lists/audit-table";
import { requirePage } from "@/lib/server/web";

export const metadata = { title: "Audit log" };

export default async function AuditPage() {
  await requirePage("audit:read");
  return (
    <>
      <PageHeader
        title="Audit log"
        description="Every change and every refused attempt: who, what, on which object, the result, when and from where."
      />
      <Suspense>
        <AuditTable />
      </Suspense>
    </>
  );
}
