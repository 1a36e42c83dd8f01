import { apiRoute } from "@/lib/server/web";
import { readJson } from "@/lib/server/platform";
import { updateInstanceTypeSchema } from "@/lib/schemas/instance-types";
import { deleteInstanceType, getInstanceType, updateInstanceType } from "@/lib/server/instance-types";

export const GET = apiRoute<{ id: string }>(
  { permission: "read", action: "instanceType.get", targetType: "instanceType" },
  ({ params }) => getInstanceType(params.id),
);

// Changes apply to VMs created afterwards; existing VMs keep their sizes.
export const PATCH = apiRoute<{ id: string }>(
  { permission: "instanceType:manage", action: "instanceType.update", targetType: "instanceType" },
  async ({ req, params, actor, clientIp }) =>
    updateInstanceType(params.id, await readJson(req, updateInstanceTypeSchema), { actor, clientIp }),
);

// Allowed while VMs use the type: they keep their sizes, their instanceTypeId becomes null (ADR 050).
export const DELETE = apiRoute<{ id: string }>(
  { permission: "instanceType:manage", action: "instanceType.delete", targetType: "instanceType" },
  ({ params, actor, clientIp }) => deleteInstanceType(params.id, { actor, clientIp }),
);
