import { PageHeader } from "@/components/page-header";
import { Dashboard } from "@/components/dashboard";
import { requirePage } from "@/lib/server/web";

export const metadata = { title: "Dashboard" };

export default async function DashboardPage() {
  await requirePage("read");
  return (
    <>
      <PageHeader title="Dashboard" description="The fleet at a glance, per architecture." />
      <Dashboard />
    </>
  );
}
