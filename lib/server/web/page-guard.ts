import "server-only";
// Pages use the same guard as actions and route handlers; a page a role may not see is a 403 page.
import { forbidden, redirect } from "next/navigation";
import type { Permission } from "../../permissions";
import { can } from "../../permissions";
import { currentActor } from "../identity";
import { type Actor } from "../platform";

export async function requirePage(permission: Permission): Promise<Actor> {
  const actor = await currentActor();
  if (!actor) redirect("/login");
  if (!can(actor.role, permission)) forbidden();
  return actor;
}
