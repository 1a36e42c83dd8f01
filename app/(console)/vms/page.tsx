import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { VmsTable } from "@/components/lists/vms-table";
import Link from "next/link";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("vms");

export default async function VmsPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  return (
    <>
      <PageHeader
        title={t("vms.title")}
        description={t("vms.description")}
        actions={
          can(actor.role, "vm:create") ? (
            <Link
              href="/vms/new"
              className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700"
            >
              {t("vms.create")}
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
