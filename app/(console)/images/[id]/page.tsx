import { notFound } from "next/navigation";
import { ImageDetailView } from "@/components/image-detail";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { db } from "@/lib/server/platform";

export const metadata = { title: "Image" };

export default async function ImagePage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await requirePage("read");
  const { id } = await params;
  if (!(await db().image.findUnique({ where: { id }, select: { id: true } }))) notFound();
  // The Evict button is hidden for viewers as a courtesy; the API checks "image:manage" anyway.
  return <ImageDetailView id={id} canManage={can(actor.role, "image:manage")} />;
}
