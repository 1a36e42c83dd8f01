import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { updateUserSchema } from "@/lib/schemas/users";
import { resetPassword, setDisabled, setRole } from "@/lib/server/identity";

export const PATCH = apiRoute<{ id: string }>(
  { permission: "user:manage", action: "user.update", targetType: "user" },
  async ({ req, params, actor, clientIp }) => {
    const input = await readJson(req, updateUserSchema);
    const who = { actor, clientIp };
    if (input.role) await setRole(params.id, input.role, who);
    if (input.disabled !== undefined) await setDisabled(params.id, input.disabled, who);
    if (input.password) await resetPassword(params.id, input.password, who);
    return { ok: true };
  },
);
