import { PageHeader } from "@/components/page-header";
import { ApiTokens } from "@/components/api-tokens";
import { requirePage } from "@/lib/server/web";
import { listTokens } from "@/lib/server/identity";
import { SshKeys } from "@/components/ssh-keys";
import { listSshKeys } from "@/lib/server/identity";
import { addSshKeyAction, createTokenAction, deleteSshKeyAction, revokeTokenAction } from "./actions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("account");

export default async function AccountPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  const [tokens, sshKeys] = await Promise.all([listTokens(actor.id), listSshKeys(actor.id)]);
  return (
    <>
      <PageHeader
        title={t("account.title")}
        description={t("account.description", { name: actor.name, email: actor.email, role: t(`roles.${actor.role}`) })}
      />
      <ApiTokens
        tokens={tokens.map((t) => ({
          ...t,
          createdAt: t.createdAt.toISOString(),
          lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
          expiresAt: t.expiresAt?.toISOString() ?? null,
          revokedAt: t.revokedAt?.toISOString() ?? null,
        }))}
        create={createTokenAction}
        revoke={revokeTokenAction}
      />
      <SshKeys
        keys={sshKeys.map((k) => ({ ...k, createdAt: k.createdAt.toISOString() }))}
        add={addSshKeyAction}
        remove={deleteSshKeyAction}
      />
    </>
  );
}
