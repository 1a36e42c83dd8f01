import { PageHeader } from "@/components/page-header";
import { NetworksAdmin } from "@/components/networks-admin";
import { requirePage } from "@/lib/server/web";
import { can } from "@/lib/permissions";
import { createNetworkAction, deleteNetworkAction } from "./actions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("networks");

export default async function NetworksPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  // The form is only a convenience: the actions and the API check the role and project themselves.
  const mayDefine = can(actor.role, "vm:create");
  return (
    <>
      <PageHeader title={t("networks.title")} description={t("networks.description")} />
      <NetworksAdmin
        actions={mayDefine ? { create: createNetworkAction, remove: deleteNetworkAction } : undefined}
        isAdmin={actor.role === "admin"}
      />
    </>
  );
}
