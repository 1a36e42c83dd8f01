import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { ImagesTable } from "@/components/lists/images-table";
import { ImageUpload } from "@/components/image-upload";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { listProjects } from "@/lib/server/projects";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("images");

export default async function ImagesPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  // Hidden for viewers as a courtesy; POST/PATCH/DELETE check "image:manage" (and ownership) on the server anyway.
  const canManage = can(actor.role, "image:manage");
  return (
    <>
      <PageHeader title={t("images.title")} description={t("images.description")} />
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
