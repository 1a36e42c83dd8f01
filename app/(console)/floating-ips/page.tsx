// Floating IPs, routers and external networks (issue 18, ADR 058): one page, three sections. Everyone
// signed in reads; operators allocate, map and release their projects' floating IPs and create routers for
// their projects' networks; admins also define external networks. Title and description: pages.floatingIps;
// the sections' strings: floatingIps. The forms are a convenience: the actions and the domain check again.
import { PageHeader } from "@/components/page-header";
import { FloatingIpsManager } from "@/components/floating-ips";
import { MAX_PAGE_SIZE } from "@/lib/schemas/list";
import { vmListQuery } from "@/lib/schemas/entities";
import { networkListQuery } from "@/lib/schemas/networks";
import { DEFAULT_PROJECT_ID } from "@/lib/schemas/projects";
import { requirePage } from "@/lib/server/web";
import { listExternalNetworks, listFloatingIps, listRouters } from "@/lib/server/routers";
import { listNetworks, nicSpecsFor } from "@/lib/server/networks";
import { listProjects } from "@/lib/server/projects";
import { listVms } from "@/lib/server/vms";
import { can } from "@/lib/permissions";
import { getTranslations } from "next-intl/server";
import { pageTitle } from "@/i18n/page-metadata";
import {
  createExternalNetworkAction,
  createFloatingIpAction,
  createRouterAction,
  deleteExternalNetworkAction,
  deleteFloatingIpAction,
  deleteRouterAction,
  mapFloatingIpAction,
  updateRouterAction,
} from "./actions";

export const generateMetadata = pageTitle("floatingIps");

export default async function FloatingIpsPage() {
  const actor = await requirePage("read");
  const t = await getTranslations("pages");
  const canManage = can(actor.role, "vm:create");
  const isAdmin = can(actor.role, "network:manage");
  const [externalNetworks, routers, floatingIps] = await Promise.all([
    listExternalNetworks(),
    listRouters(actor),
    listFloatingIps(actor),
  ]);
  // What only the forms need: networks to route for, projects to allocate in, NICs to map to.
  const [networks, projects, vms] = canManage
    ? await Promise.all([
        listNetworks(networkListQuery.parse({ pageSize: MAX_PAGE_SIZE }), actor),
        listProjects(actor),
        listVms(vmListQuery.parse({ pageSize: MAX_PAGE_SIZE }), actor),
      ])
    : [null, null, null];
  const nics = vms
    ? (
        await Promise.all(
          vms.items.map(async (v) =>
            (await nicSpecsFor(v.id))
              .filter((n) => n.ip)
              .map((n) => ({
                id: n.id,
                vmName: v.name,
                ip: n.ip ?? "",
                projectId: v.project?.id ?? DEFAULT_PROJECT_ID,
              })),
          ),
        )
      ).flat()
    : [];
  const routed = new Set(routers.map((r) => r.networkId));
  return (
    <>
      <PageHeader title={t("floatingIps.title")} description={t("floatingIps.description")} />
      <FloatingIpsManager
        canManage={canManage}
        isAdmin={isAdmin}
        externalNetworks={externalNetworks.map((e) => ({
          id: e.id,
          name: e.name,
          cidr: e.cidr,
          gateway: e.gateway,
          poolStart: e.poolStart,
          poolEnd: e.poolEnd,
          poolSize: e.poolSize,
          usedAddresses: e.usedAddresses,
          routerCount: e.routerCount,
        }))}
        routers={routers.map((r) => ({
          id: r.id,
          name: r.name,
          networkName: r.networkName,
          externalNetworkName: r.externalNetworkName,
          snat: r.snat,
          mayChange: canManage && (isAdmin || r.projectId !== null),
          ports: r.ports.map((p) => ({
            hostId: p.hostId,
            hostName: p.hostName,
            address: p.address,
            state: p.state,
            error: p.error,
          })),
        }))}
        floatingIps={floatingIps.map((f) => ({
          id: f.id,
          address: f.address,
          externalNetworkName: f.externalNetworkName,
          projectId: f.projectId,
          projectName: f.projectName,
          description: f.description,
          nicId: f.nicId,
          vmName: f.vmName,
          fixedIp: f.fixedIp,
          hostName: f.hostName,
        }))}
        networks={(networks?.items ?? [])
          .filter((n) => !routed.has(n.id) && (isAdmin || n.projectId !== null))
          .map((n) => ({ id: n.id, name: n.name, cidr: n.cidr }))}
        projects={(projects?.items ?? []).map((p) => ({ id: p.id, name: p.name }))}
        nics={nics}
        actions={{
          createExternal: createExternalNetworkAction,
          removeExternal: deleteExternalNetworkAction,
          createRouter: createRouterAction,
          updateRouter: updateRouterAction,
          removeRouter: deleteRouterAction,
          allocate: createFloatingIpAction,
          map: mapFloatingIpAction,
          release: deleteFloatingIpAction,
        }}
      />
    </>
  );
}
