import { notFound } from "next/navigation";
import { HostDetailView } from "@/components/host-detail";
import { HostMetricsPanel } from "@/components/metrics-chart";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { db } from "@/lib/server/platform";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("host");

export default async function HostPage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await requirePage("read");
  const { id } = await params;
  if (!(await db().host.findUnique({ where: { id }, select: { id: true } }))) notFound();
  return (
    <div className="space-y-6">
      <HostDetailView id={id} canManage={can(actor.role, "host:manage")} />
      <HostMetricsPanel hostId={id} />
    </div>
  );
}
