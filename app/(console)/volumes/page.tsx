import { PageHeader } from "@/components/page-header";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { VolumesView } from "./volumes-view";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("volumes");

export default async function VolumesPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  // The controls are a convenience: every write goes to the API, which checks role and project itself.
  return (
    <>
      <PageHeader title={t("volumes.title")} description={t("volumes.description")} />
      <VolumesView canCreate={can(actor.role, "vm:create")} canOperate={can(actor.role, "vm:operate")} />
    </>
  );
}
