"use client";
// The floating IPs page's routers and external networks sections (components/floating-ips.tsx): a router
// per network (SNAT on/off, one port per host with its external address and state), and the external
// networks floating IPs and router addresses come from (admins create and delete them).
import { useTranslations } from "next-intl";
import { ActionMessage, CreateFormCard, useActionRunner } from "@/components/admin-form";
import {
  ListTable,
  type Choice,
  type ExternalNetworkView,
  Field,
  field,
  type FloatingIpActions,
  invalid,
  type RouterView,
  card,
  dangerButton,
  smallButton,
} from "@/components/floating-ips-parts";

const STATE_CLASS: Record<string, string> = {
  active: "text-green-800",
  pending: "text-amber-800",
  error: "text-red-700",
};

export function RoutersSection({
  canManage,
  routers,
  networks,
  externalNetworks,
  actions,
}: {
  canManage: boolean;
  routers: RouterView[];
  networks: Array<Choice & { cidr: string }>;
  externalNetworks: ExternalNetworkView[];
  actions: FloatingIpActions;
}) {
  const t = useTranslations("floatingIps.routers");
  const { run, pending, message, fieldErrors } = useActionRunner();
  const err = (k: string) => fieldErrors[k];
  const create = (e: React.FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const name = field(f, "name");
    run(
      actions.createRouter({
        name,
        networkId: field(f, "networkId"),
        externalNetworkId: field(f, "externalNetworkId"),
        snat: f.get("snat") === "on",
      }),
      t("created", { name }),
      () => form.reset(),
    );
  };
  const remove = (r: RouterView) => {
    if (!confirm(t("confirmDelete", { name: r.name, network: r.networkName }))) return;
    run(actions.removeRouter({ id: r.id }), t("deleted", { name: r.name }));
  };
  const mayCreate = canManage && networks.length > 0 && externalNetworks.length > 0;
  return (
    <section aria-labelledby="routers-title" className="space-y-3">
      <h2 id="routers-title" className="text-lg font-semibold">
        {t("title")}
      </h2>
      <ActionMessage message={message} />
      {mayCreate && (
        <CreateFormCard
          title={t("create.label")}
          label={t("create.label")}
          className="grid gap-3 sm:grid-cols-2 lg:grid-cols-5"
          onSubmit={create}
          pending={pending}
        >
          <Field label={t("create.name")} error={err("name")} id="router-name">
            <input name="name" maxLength={63} autoComplete="off" {...invalid(err("name"), "router-name")} />
          </Field>
          <Field label={t("create.network")} error={err("networkId")} id="router-networkId">
            <select name="networkId" {...invalid(err("networkId"), "router-networkId")}>
              {networks.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name} ({n.cidr})
                </option>
              ))}
            </select>
          </Field>
          <Field label={t("create.externalNetwork")} error={err("externalNetworkId")} id="router-externalNetworkId">
            <select name="externalNetworkId" {...invalid(err("externalNetworkId"), "router-externalNetworkId")}>
              {externalNetworks.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name} ({x.cidr})
                </option>
              ))}
            </select>
          </Field>
          <label className="flex items-end gap-2 pb-2 text-sm">
            <input type="checkbox" name="snat" defaultChecked />
            <span className="font-medium">{t("create.snat")}</span>
          </label>
        </CreateFormCard>
      )}
      {canManage && !mayCreate && <p className="text-sm text-slate-600">{t("cannotCreate")}</p>}
      {routers.length === 0 && <p className="text-sm text-slate-600">{t("empty")}</p>}
      {routers.map((r) => (
        <section
          key={r.id}
          aria-label={t("routerLabel", { name: r.name })}
          data-testid={`router-${r.name}`}
          className={card}
        >
          <div className="flex flex-wrap items-center justify-between gap-2">
            <h3 className="font-semibold break-all">
              {r.name}{" "}
              <span className="text-sm font-normal text-slate-600">
                {t("summary", { network: r.networkName, external: r.externalNetworkName })}
              </span>
            </h3>
            <div className="flex flex-wrap items-center gap-2">
              <span className="text-sm" data-testid="snat">
                {r.snat ? t("snatOn") : t("snatOff")}
              </span>
              {r.mayChange && (
                <>
                  <button
                    type="button"
                    className={smallButton}
                    disabled={pending}
                    aria-label={t(r.snat ? "disableSnatLabel" : "enableSnatLabel", { name: r.name })}
                    onClick={() =>
                      run(actions.updateRouter({ id: r.id, snat: !r.snat }), t("updated", { name: r.name }))
                    }
                  >
                    {r.snat ? t("disableSnat") : t("enableSnat")}
                  </button>
                  <button
                    type="button"
                    className={dangerButton}
                    disabled={pending}
                    aria-label={t("deleteLabel", { name: r.name })}
                    onClick={() => remove(r)}
                  >
                    {t("delete")}
                  </button>
                </>
              )}
            </div>
          </div>
          {r.ports.length === 0 ? (
            <p className="mt-2 text-sm text-slate-600">{t("noPorts")}</p>
          ) : (
            <div className="mt-2 overflow-x-auto">
              <ListTable
                caption={t("portsCaption", { name: r.name })}
                columns={["host", "address", "state", "error"].map((c) => t(`ports.${c}`))}
              >
                {r.ports.map((p) => (
                  <tr key={p.hostId}>
                    <td className="px-3 py-2">{p.hostName}</td>
                    <td className="px-3 py-2 font-mono">{p.address}</td>
                    <td className={`px-3 py-2 ${STATE_CLASS[p.state] ?? ""}`}>
                      {["active", "pending", "error"].includes(p.state) ? t(`states.${p.state}`) : p.state}
                    </td>
                    <td className="px-3 py-2 break-all text-red-700">{p.error}</td>
                  </tr>
                ))}
              </ListTable>
            </div>
          )}
        </section>
      ))}
    </section>
  );
}

export function ExternalNetworksSection({
  isAdmin,
  externalNetworks,
  actions,
}: {
  isAdmin: boolean;
  externalNetworks: ExternalNetworkView[];
  actions: FloatingIpActions;
}) {
  const t = useTranslations("floatingIps.external");
  const { run, pending, message, fieldErrors } = useActionRunner();
  const err = (k: string) => fieldErrors[k];
  const create = (e: React.FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const name = field(f, "name");
    const optional = (k: "gateway" | "poolStart" | "poolEnd") => (field(f, k) ? { [k]: field(f, k) } : {});
    run(
      actions.createExternal({
        name,
        cidr: field(f, "cidr"),
        ...optional("gateway"),
        ...optional("poolStart"),
        ...optional("poolEnd"),
      }),
      t("created", { name }),
      () => form.reset(),
    );
  };
  const remove = (x: ExternalNetworkView) => {
    if (!confirm(t("confirmDelete", { name: x.name, cidr: x.cidr }))) return;
    run(actions.removeExternal({ id: x.id }), t("deleted", { name: x.name }));
  };
  const fields = [
    { name: "name", mono: false },
    { name: "cidr", mono: true },
    { name: "gateway", mono: true },
    { name: "poolStart", mono: true },
    { name: "poolEnd", mono: true },
  ] as const;
  return (
    <section aria-labelledby="external-title" className="space-y-3">
      <h2 id="external-title" className="text-lg font-semibold">
        {t("title")}
      </h2>
      <p className="text-sm text-slate-600">{t("intro")}</p>
      <ActionMessage message={message} />
      {isAdmin && (
        <CreateFormCard
          title={t("create.label")}
          label={t("create.label")}
          className="grid gap-3 sm:grid-cols-3 lg:grid-cols-6"
          onSubmit={create}
          pending={pending}
        >
          {fields.map((f) => (
            <Field key={f.name} label={t(`create.${f.name}`)} error={err(f.name)} id={`external-${f.name}`}>
              <input
                name={f.name}
                autoComplete="off"
                placeholder={t(`create.${f.name}Placeholder`)}
                {...invalid(err(f.name), `external-${f.name}`)}
              />
            </Field>
          ))}
        </CreateFormCard>
      )}
      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <ListTable
          caption={t("title")}
          columns={["name", "cidr", "gateway", "pool", "used", "routers"].map((c) => t(`columns.${c}`))}
          actions={isAdmin && t("columns.actions")}
        >
          {externalNetworks.map((x) => (
            <tr key={x.id} data-testid={`external-${x.name}`} className="hover:bg-slate-50">
              <td className="px-3 py-2 font-medium break-all">{x.name}</td>
              <td className="px-3 py-2 font-mono">{x.cidr}</td>
              <td className="px-3 py-2 font-mono">
                {x.gateway ?? <span className="text-slate-600">{t("none")}</span>}
              </td>
              <td className="px-3 py-2 font-mono text-xs">
                {x.poolStart}–{x.poolEnd}
              </td>
              <td className="px-3 py-2" data-testid="used">
                {t("used", { used: x.usedAddresses, size: x.poolSize })}
              </td>
              <td className="px-3 py-2">{x.routerCount}</td>
              {isAdmin && (
                <td className="px-3 py-2">
                  <button
                    type="button"
                    className={dangerButton}
                    disabled={pending}
                    aria-label={t("deleteLabel", { name: x.name })}
                    onClick={() => remove(x)}
                  >
                    {t("delete")}
                  </button>
                </td>
              )}
            </tr>
          ))}
        </ListTable>
        {externalNetworks.length === 0 && (
          <p className="px-6 py-8 text-center text-sm text-slate-600">{isAdmin ? t("emptyAdmin") : t("empty")}</p>
        )}
      </div>
    </section>
  );
}
