import { notFound } from "next/navigation";
import { ConsoleTabs } from "./console-tabs";
import { requirePage } from "@/lib/server/web";
import { canSeeVm } from "@/lib/server/vms";
import { db } from "@/lib/server/platform";
import { effectiveDisplay } from "@/lib/display";
import type { Arch } from "@/lib/arch";
import { pageTitle } from "@/i18n/page-metadata";

export const generateMetadata = pageTitle("console");

// Serial and graphical console of one VM; noVNC is loaded only here (components/vnc-console.tsx).
export default async function VmConsolePage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<{ tab?: string }>;
}) {
  const actor = await requirePage("read");
  const { id } = await params;
  if (!(await canSeeVm(actor, id, { action: "vm.view" }))) notFound();
  const vm = await db().vm.findUnique({
    where: { id },
    select: { id: true, name: true, arch: true, display: true, hostId: true, image: { select: { format: true } } },
  });
  if (!vm) notFound();
  const display = effectiveDisplay(vm.arch as Arch, vm.display, vm.image);
  const tab = (await searchParams).tab === "graphical" ? "graphical" : "serial";
  return (
    <ConsoleTabs
      vm={{ id: vm.id, name: vm.name, arch: vm.arch as Arch, display, placed: vm.hostId !== null }}
      initialTab={tab}
    />
  );
}
