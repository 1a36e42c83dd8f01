import { PageHeader } from "@/components/page-header";
import { VmWizard } from "@/components/vm-wizard";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { createVmAction } from "../actions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("vmNew");

export default async function NewVmPage() {
  const actor = await requirePage("vm:create");
  const t = await getTranslations("pages");
  return (
    <>
      <PageHeader title={t("vmNew.heading")} description={t("vmNew.description")} />
      <VmWizard create={createVmAction} canCustomSize={can(actor.role, "vm:customSize")} />
    </>
  );
}
