import { PageHeader } from "@/components/page-header";
import { UsersAdmin } from "@/components/users-admin";
import { requirePage } from "@/lib/server/web";
import { listUsers } from "@/lib/server/identity";
import {
  createUserAction,
  disableUserAction,
  enableUserAction,
  resetPasswordAction,
  setRoleAction,
  unlockSignInAction,
} from "./actions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("users");

export default async function UsersPage() {
  const actor = await requirePage("user:manage");
  const t = await getTranslations("pages");
  const users = await listUsers();
  return (
    <>
      <PageHeader title={t("users.title")} description={t("users.description")} />
      <UsersAdmin
        users={users.map((u) => ({ ...u, createdAt: u.createdAt.toISOString() }))}
        currentUserId={actor.id}
        actions={{
          create: createUserAction,
          setRole: setRoleAction,
          disable: disableUserAction,
          enable: enableUserAction,
          resetPassword: resetPasswordAction,
          unlockSignIn: unlockSignInAction,
        }}
      />
    </>
  );
}
