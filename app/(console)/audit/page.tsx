import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { AuditTable } from "@/components/lists/audit-table";
import { requirePage } from "@/lib/server/web";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("audit");

export default async function AuditPage() {
  await requirePage("audit:read");
  const t = await getTranslations("pages");
  return (
    <>
      <PageHeader title={t("audit.title")} description={t("audit.description")} />
      <Suspense>
        <AuditTable />
      </Suspense>
    </>
  );
}
