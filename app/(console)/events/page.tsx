import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { EventsTable } from "@/components/events-table";
import { requirePage } from "@/lib/server/web";

export const metadata = { title: "Tasks & events" };

export default async function EventsPage() {
  await requirePage("read");
  return (
    <>
      <PageHeader
        title="Tasks & events"
        description="Every VM operation as a task: what ran, on which VM and host, who started it and how it ended. Refreshes by itself."
      />
      <Suspense>
        <EventsTable />
      </Suspense>
    </>
  );
}
