import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { ImagesTable } from "@/components/lists/images-table";
import { ImageUpload } from "@/components/image-upload";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { listProjects } from "@/lib/server/projects";

export const metadata = { title: "Images" };

export default async function ImagesPage() {
  const actor = await requirePage("read");
  // Hidden for viewers as a courtesy; POST/PATCH/DELETE check "image:manage" (and ownership) on the server anyway.
  const canManage = can(actor.role, "image:manage");
  return (
    <>
      <PageHeader
        title="Images"
        description="Boot images, each built for one architecture. A family groups the builds of one image for x86_64 and aarch64."
      />
      <div className="space-y-6">
        {canManage && (
          <ImageUpload
            projects={(await listProjects(actor)).items.map((p) => ({ id: p.id, name: p.name }))}
            admin={actor.role === "admin"}
          />
        )}
        <Suspense>
          <ImagesTable canManage={canManage} viewer={{ id: actor.id, admin: actor.role === "admin" }} />
        </Suspense>
      </div>
    </>
  );
}
