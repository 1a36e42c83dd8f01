import { notFound } from "next/navigation";
import { VmDetailView } from "@/components/vm-detail";
import { requirePage } from "@/lib/server/page-guard";
import { can } from "@/lib/permissions";
import { db } from "@/lib/server/db";

export const metadata = { title: "Virtual machine" };

export default async function VmPage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await requirePage("read");
  const { id } = await params;
  if (!(await db().vm.findUnique({ where: { id }, select: { id: true } }))) notFound();
  return <VmDetailView id={id} canOperate={can(actor.role, "vm:operate")} />;
}
