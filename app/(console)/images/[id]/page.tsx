import { notFound } from "next/navigation";
import { ImageDetailView } from "@/components/image-detail";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { db } from "@/lib/server/platform";
import { canSeeImage } from "@/lib/server/images";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("image");

export default async function ImagePage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await requirePage("read");
  const { id } = await params;
  const image = await db().image.findUnique({
    where: { id },
    select: { id: true, visibility: true, projectId: true, ownerId: true },
  });
  // An image the actor may not see is missing for them, as in the API (lib/server/images/visibility.ts).
  if (!image || !(await canSeeImage(actor, image))) notFound();
  // Buttons are hidden as a courtesy; the API checks "image:manage" and ownership anyway.
  const canManage = can(actor.role, "image:manage");
  const canChange = canManage && (actor.role === "admin" || image.ownerId === actor.id);
  return <ImageDetailView id={id} canManage={canManage} canChange={canChange} isAdmin={actor.role === "admin"} />;
}
