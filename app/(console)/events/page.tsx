import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { EventsTable } from "@/components/events-table";
import { requirePage } from "@/lib/server/web";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("events");

export default async function EventsPage() {
  await requirePage("read");
  const t = await getTranslations("pages");
  return (
    <>
      <PageHeader title={t("events.title")} description={t("events.description")} />
      <Suspense>
        <EventsTable />
      </Suspense>
    </>
  );
}
