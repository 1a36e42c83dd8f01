import { PageHeader } from "@/components/page-header";
import { Dashboard } from "@/components/dashboard";
import { requirePage } from "@/lib/server/web";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("dashboard");

export default async function DashboardPage() {
  await requirePage("read");
  const t = await getTranslations("pages");
  return (
    <>
      <PageHeader title={t("dashboard.title")} description={t("dashboard.description")} />
      <Dashboard />
    </>
  );
}
