"use client";
// Floating IPs page (issue 18, ADR 058): floating IPs (allocate from an external network for a project,
// map to a VM's NIC or unmap, release), the networks' routers, and the external networks (admins define
// them). Every change is a server action (zod + role + project checked on the server). Strings:
// messages/<locale>/floatingIps.json; names and addresses are data. Server messages stay English (ADR 051).
import { useState } from "react";
import { useTranslations } from "next-intl";
import { ActionMessage, CreateFormCard, useActionRunner } from "@/components/admin-form";
import {
  ListTable,
  type Choice,
  type ExternalNetworkView,
  Field,
  field,
  type FloatingIpActions,
  type FloatingIpView,
  invalid,
  type NicChoice,
  type RouterView,
  dangerButton,
  smallButton,
} from "@/components/floating-ips-parts";
import { ExternalNetworksSection, RoutersSection } from "@/components/floating-ips-routing";

export type { FloatingIpActions } from "@/components/floating-ips-parts";

export function FloatingIpsManager({
  canManage,
  isAdmin,
  externalNetworks,
  routers,
  floatingIps,
  networks,
  projects,
  nics,
  actions,
}: {
  canManage: boolean;
  isAdmin: boolean;
  externalNetworks: ExternalNetworkView[];
  routers: RouterView[];
  floatingIps: FloatingIpView[];
  /** networks the caller may give a router (none routed yet) */
  networks: Array<Choice & { cidr: string }>;
  projects: Choice[];
  nics: NicChoice[];
  actions: FloatingIpActions;
}) {
  return (
    <div className="space-y-8">
      <FloatingIpsSection
        canManage={canManage}
        externalNetworks={externalNetworks}
        floatingIps={floatingIps}
        projects={projects}
        nics={nics}
        actions={actions}
      />
      <RoutersSection
        canManage={canManage}
        routers={routers}
        networks={networks}
        externalNetworks={externalNetworks}
        actions={actions}
      />
      <ExternalNetworksSection isAdmin={isAdmin} externalNetworks={externalNetworks} actions={actions} />
    </div>
  );
}

function FloatingIpsSection({
  canManage,
  externalNetworks,
  floatingIps,
  projects,
  nics,
  actions,
}: {
  canManage: boolean;
  externalNetworks: ExternalNetworkView[];
  floatingIps: FloatingIpView[];
  projects: Choice[];
  nics: NicChoice[];
  actions: FloatingIpActions;
}) {
  const t = useTranslations("floatingIps.floating");
  const { run, pending, message, fieldErrors } = useActionRunner();
  const [projectId, setProjectId] = useState(projects[0]?.id ?? "");
  const allocate = (e: React.FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const description = field(f, "description");
    const nicId = field(f, "nicId");
    run(
      actions.allocate({
        externalNetworkId: field(f, "externalNetworkId"),
        ...(projectId ? { projectId } : {}),
        ...(description ? { description } : {}),
        ...(nicId ? { nicId } : {}),
      }),
      t("allocated"),
      () => form.reset(),
    );
  };
  const release = (fip: FloatingIpView) => {
    if (!confirm(t("confirmRelease", { address: fip.address }))) return;
    run(actions.release({ id: fip.id }), t("released", { address: fip.address }));
  };
  const map = (e: React.FormEvent<HTMLFormElement>, fip: FloatingIpView) => {
    e.preventDefault();
    const nicId = field(new FormData(e.currentTarget), "nicId");
    if (nicId) run(actions.map({ id: fip.id, nicId }), t("mapped", { address: fip.address }));
  };
  const projectNics = (pid: string) => nics.filter((n) => n.projectId === pid);
  const err = (k: string) => fieldErrors[k];
  return (
    <section aria-labelledby="fip-title" className="space-y-3">
      <h2 id="fip-title" className="text-lg font-semibold">
        {t("title")}
      </h2>
      <ActionMessage message={message} />
      {canManage && externalNetworks.length === 0 && <p className="text-sm text-slate-600">{t("noExternal")}</p>}
      {canManage && externalNetworks.length > 0 && (
        <CreateFormCard
          title={t("allocate.label")}
          label={t("allocate.label")}
          className="grid gap-3 sm:grid-cols-2 lg:grid-cols-5"
          onSubmit={allocate}
          pending={pending}
        >
          <Field label={t("allocate.externalNetwork")} error={err("externalNetworkId")} id="fip-externalNetworkId">
            <select name="externalNetworkId" {...invalid(err("externalNetworkId"), "fip-externalNetworkId")}>
              {externalNetworks.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name} ({x.cidr})
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("allocate.project")} error={err("projectId")} id="fip-projectId">
            <select
              name="projectId"
              value={projectId}
              onChange={(e) => setProjectId(e.target.value)}
              {...invalid(err("projectId"), "fip-projectId")}
            >
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("allocate.nic")} error={err("nicId")} id="fip-nicId">
            <select name="nicId" defaultValue="" {...invalid(err("nicId"), "fip-nicId")}>
              <option value="">{t("allocate.noNic")}</option>
              {projectNics(projectId).map((n) => (
                <option key={n.id} value={n.id}>
                  {n.vmName} ({n.ip})
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("allocate.description")} error={err("description")} id="fip-description">
            <input name="description" maxLength={255} {...invalid(err("description"), "fip-description")} />
          </Field>
        </CreateFormCard>
      )}
      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <ListTable
          caption={t("title")}
          columns={["address", "externalNetwork", "project", "mappedTo", "host", "description"].map((c) =>
            t(`columns.${c}`),
          )}
          actions={canManage && t("columns.actions")}
        >
          {floatingIps.map((f) => (
            <tr key={f.id} data-testid={`floating-ip-${f.address}`} className="align-top hover:bg-slate-50">
              <td className="px-3 py-2 font-mono font-medium">{f.address}</td>
              <td className="px-3 py-2">{f.externalNetworkName}</td>
              <td className="px-3 py-2 break-all">{f.projectName}</td>
              <td className="px-3 py-2" data-testid="mapping">
                {f.nicId ? (
                  <span>
                    {f.vmName ?? "?"} <span className="font-mono">({f.fixedIp ?? "?"})</span>
                  </span>
                ) : (
                  <span className="text-slate-600">{t("notMapped")}</span>
                )}
              </td>
              <td className="px-3 py-2">{f.hostName ?? <span className="text-slate-600">—</span>}</td>
              <td className="px-3 py-2 break-all">{f.description}</td>
              {canManage && (
                <td className="px-3 py-2">
                  <div className="flex flex-wrap items-center gap-2">
                    {f.nicId ? (
                      <button
                        type="button"
                        className={smallButton}
                        disabled={pending}
                        aria-label={t("unmapLabel", { address: f.address })}
                        onClick={() =>
                          run(actions.map({ id: f.id, nicId: null }), t("unmapped", { address: f.address }))
                        }
                      >
                        {t("unmap")}
                      </button>
                    ) : (
                      projectNics(f.projectId).length > 0 && (
                        <form
                          onSubmit={(e) => map(e, f)}
                          aria-label={t("mapLabel", { address: f.address })}
                          className="flex items-center gap-1"
                        >
                          <select
                            name="nicId"
                            aria-label={t("nicFor", { address: f.address })}
                            className="rounded-md border border-slate-300 px-2 py-1 text-sm"
                          >
                            {projectNics(f.projectId).map((n) => (
                              <option key={n.id} value={n.id}>
                                {n.vmName} ({n.ip})
                              </option>
                            ))}
                          </select>
                          <button type="submit" className={smallButton} disabled={pending}>
                            {t("map")}
                          </button>
                        </form>
                      )
                    )}
                    <button
                      type="button"
                      className={dangerButton}
                      disabled={pending}
                      aria-label={t("releaseLabel", { address: f.address })}
                      onClick={() => release(f)}
                    >
                      {t("release")}
                    </button>
                  </div>
                </td>
              )}
            </tr>
          ))}
        </ListTable>
        {floatingIps.length === 0 && (
          <p className="px-6 py-8 text-center text-sm text-slate-600" data-testid="floating-ips-empty">
            {t("empty")}
          </p>
        )}
      </div>
    </section>
  );
}
