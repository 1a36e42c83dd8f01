import { PageHeader } from "@/components/page-header";
import { ApiTokens } from "@/components/api-tokens";
import { requirePage } from "@/lib/server/page-guard";
import { listTokens } from "@/lib/server/api-tokens";
import { createTokenAction, revokeTokenAction } from "./actions";

export const metadata = { title: "Account" };

export default async function AccountPage() {
  const actor = await requirePage("read");
  const tokens = await listTokens(actor.id);
  return (
    <>
      <PageHeader title="Account" description={`${actor.name} · ${actor.email} · role ${actor.role}`} />
      <ApiTokens
        tokens={tokens.map((t) => ({ ...t, createdAt: t.createdAt.toISOString(), lastUsedAt: t.lastUsedAt?.toISOString() ?? null, expiresAt: t.expiresAt?.toISOString() ?? null, revokedAt: t.revokedAt?.toISOString() ?? null }))}
        create={createTokenAction}
        revoke={revokeTokenAction}
      />
    </>
  );
}
