import { PageHeader } from "@/components/page-header";
import { InstanceTypesAdmin } from "@/components/instance-types-admin";
import { requirePage } from "@/lib/server/web";
import { listInstanceTypes } from "@/lib/server/instance-types";
import { createInstanceTypeAction, deleteInstanceTypeAction, updateInstanceTypeAction } from "./actions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("instanceTypes");

export default async function InstanceTypesPage() {
  await requirePage("instanceType:manage");
  const t = await getTranslations("pages");
  const types = await listInstanceTypes();
  return (
    <>
      <PageHeader title={t("instanceTypes.title")} description={t("instanceTypes.description")} />
      <InstanceTypesAdmin
        types={types.items.map((t) => ({
          ...t,
          createdAt: t.createdAt.toISOString(),
          updatedAt: t.updatedAt.toISOString(),
        }))}
        actions={{
          create: createInstanceTypeAction,
          update: updateInstanceTypeAction,
          remove: deleteInstanceTypeAction,
        }}
      />
    </>
  );
}
