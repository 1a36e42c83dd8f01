import { Suspense } from "react";
import { PageHeader } from "@/components/page-header";
import { ImagesTable } from "@/components/lists/images-table";
import { requirePage } from "@/lib/server/page-guard";

export const metadata = { title: "Images" };

export default async function ImagesPage() {
  await requirePage("read");
  return (
    <>
      <PageHeader title="Images" description="Boot images, each built for one architecture. A family groups the builds of one image for x86_64 and aarch64." />
      <Suspense><ImagesTable /></Suspense>
    </>
  );
}
