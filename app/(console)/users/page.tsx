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

export const metadata = { title: "Users" };

export default async function UsersPage() {
  const actor = await requirePage("user:manage");
  const users = await listUsers();
  return (
    <>
      <PageHeader
        title="Users"
        description="There is no public sign-up: admins create users, set their roles, disable them, reset passwords, unlock sign-in."
      />
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
