import { PageHeader } from "@/components/page-header";
import { InstanceTypesAdmin } from "@/components/instance-types-admin";
import { requirePage } from "@/lib/server/web";
import { listInstanceTypes } from "@/lib/server/instance-types";
import { createInstanceTypeAction, deleteInstanceTypeAction, updateInstanceTypeAction } from "./actions";

export const metadata = { title: "Instance types" };

const DESCRIPTION =
  "Sizes people pick in the VM wizard and name in the API (instanceType). A type limited to one architecture " +
  "is offered only for VMs of that architecture. Changes apply to new VMs; existing VMs keep their sizes.";

export default async function InstanceTypesPage() {
  await requirePage("instanceType:manage");
  const types = await listInstanceTypes();
  return (
    <>
      <PageHeader title="Instance types" description={DESCRIPTION} />
      <InstanceTypesAdmin
        types={types.items.map((t) => ({
          ...t,
          createdAt: t.createdAt.toISOString(),
          updatedAt: t.updatedAt.toISOString(),
        }))}
        actions={{
          create: createInstanceTypeAction,
          update: updateInstanceTypeAction,
          remove: deleteInstanceTypeAction,
        }}
      />
    </>
  );
}
