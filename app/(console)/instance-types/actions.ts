"use server";
// Instance types page (admins): the same lib/server/instance-types calls as /api/v1/instance-types.
import { defineAction } from "@/lib/server/web";
import {
  createInstanceTypeSchema,
  instanceTypeRefSchema,
  updateInstanceTypeActionSchema,
} from "@/lib/schemas/instance-types";
import { createInstanceType, deleteInstanceType, updateInstanceType } from "@/lib/server/instance-types";

const base = {
  permission: "instanceType:manage" as const,
  targetType: "instanceType",
  revalidate: ["/instance-types", "/vms"],
};

export const createInstanceTypeAction = defineAction(
  { ...base, schema: createInstanceTypeSchema, action: "instanceType.create" },
  (input, who) => createInstanceType(input, who),
);

export const updateInstanceTypeAction = defineAction(
  { ...base, schema: updateInstanceTypeActionSchema, action: "instanceType.update" },
  ({ id, ...input }, who) => updateInstanceType(id, input, who),
);

export const deleteInstanceTypeAction = defineAction(
  { ...base, schema: instanceTypeRefSchema, action: "instanceType.delete" },
  (input, who) => deleteInstanceType(input.id, who),
);
