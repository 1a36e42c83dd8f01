"use server";
import { defineAction } from "@/lib/server/web";
import { createTokenSchema, tokenIdSchema } from "@/lib/schemas/users";
import { createToken, revokeToken } from "@/lib/server/identity";
import { addSshKeySchema, sshKeyIdSchema } from "@/lib/schemas/ssh-keys";
import { addSshKey, deleteSshKey } from "@/lib/server/identity";

// Every signed-in user may manage their own tokens ("read" is the lowest permission); the data
// module scopes every query to the actor's own user id.
export const createTokenAction = defineAction(
  {
    schema: createTokenSchema,
    permission: "read",
    action: "token.create",
    targetType: "api-token",
    revalidate: ["/account"],
  },
  (input, { actor, clientIp }) => createToken(actor, input.name, input.expiresInDays, clientIp),
);

export const revokeTokenAction = defineAction(
  {
    schema: tokenIdSchema,
    permission: "read",
    action: "token.revoke",
    targetType: "api-token",
    revalidate: ["/account"],
  },
  (input, { actor, clientIp }) => revokeToken(actor, input.id, clientIp),
);

// SSH public keys: same rule as tokens — anyone signed in, scoped to their own user id.
export const addSshKeyAction = defineAction(
  {
    schema: addSshKeySchema,
    permission: "read",
    action: "ssh-key.create",
    targetType: "ssh-key",
    revalidate: ["/account"],
  },
  (input, { actor, clientIp }) => addSshKey(actor, input, clientIp),
);

export const deleteSshKeyAction = defineAction(
  {
    schema: sshKeyIdSchema,
    permission: "read",
    action: "ssh-key.delete",
    targetType: "ssh-key",
    revalidate: ["/account"],
  },
  (input, { actor, clientIp }) => deleteSshKey(actor, input.id, clientIp),
);
