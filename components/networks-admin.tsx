"use client";
// Networks page: everyone who may read sees the networks of their projects and the shared ones (VLAN,
// CIDR, gateway, pool, address usage; polled). Operators and admins also get the create form
// (validated in the browser with the same zod schema the server uses, so the messages match):
// operators create networks in their projects, admins also shared ones (lib/server/networks/tenancy.ts).
// Delete (with a confirmation) shows only where the server would allow it.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import type { ActionResult } from "@/lib/action-result";
import { ActionMessage, useActionRunner } from "@/components/admin-form";
import { createNetworkSchema } from "@/lib/schemas/networks";
import { networkKeys, networksQuery, type NetworkRow } from "@/lib/queries/networks";
import { poolSize, validateNetworkPlan } from "@/lib/ipam";
import { projectsQuery } from "@/lib/queries/projects";

type Act<I> = (input: I) => Promise<ActionResult>;
type CreateInput = {
  name: string;
  vlanId: string;
  cidr: string;
  gateway: string;
  poolStart: string;
  poolEnd: string;
  /** "" = shared (admins only) */
  projectId: string;
};
export type NetworkActions = { create: Act<CreateInput>; remove: Act<{ id: string }> };

// Label, placeholder and hint are message keys networks.fields.<name>.label / .placeholder / .hint.
const FIELDS: Array<{ name: Exclude<keyof CreateInput, "projectId">; hint?: boolean }> = [
  { name: "name" },
  { name: "vlanId", hint: true },
  { name: "cidr", hint: true },
  { name: "gateway" },
  { name: "poolStart", hint: true },
  { name: "poolEnd", hint: true },
];

const EMPTY: CreateInput = { name: "", vlanId: "", cidr: "", gateway: "", poolStart: "", poolEnd: "", projectId: "" };

function clientErrors(values: CreateInput): Record<string, string> {
  const r = createNetworkSchema.safeParse(values);
  const out: Record<string, string> = {};
  if (!r.success) for (const i of r.error.issues) out[i.path.map(String).join(".") || "_"] ??= i.message;
  return out;
}

/** "Pool 10.0.0.2–10.0.0.254: 253 addresses for VMs (gateway 10.0.0.1 excluded)." while the typed plan is valid. */
function poolPreview(values: CreateInput, t: ReturnType<typeof useTranslations>): string | null {
  const r = validateNetworkPlan(values);
  if (!r.ok) return null;
  const size = poolSize(r.plan);
  return t("poolPreview", { start: r.plan.poolStart, end: r.plan.poolEnd, size, gateway: r.plan.gateway });
}

export function NetworksAdmin({ actions, isAdmin = false }: { actions?: NetworkActions; isAdmin?: boolean }) {
  const queryClient = useQueryClient();
  const t = useTranslations("networks");
  const query = useQuery(networksQuery());
  const projects = useQuery({ ...projectsQuery(), enabled: Boolean(actions) });
  const [values, setValues] = useState<CreateInput>(EMPTY);
  // Operators have no "shared" choice: preselect their first project until they pick one.
  const projectId = values.projectId || (isAdmin ? "" : (projects.data?.items[0]?.id ?? ""));
  const mayChange = (n: NetworkRow) => isAdmin || n.projectId !== null;
  const [submitted, setSubmitted] = useState(false);
  const {
    run,
    pending,
    message,
    setMessage,
    fieldErrors: serverErrors,
    setFieldErrors: setServerErrors,
  } = useActionRunner({
    settled: () => queryClient.invalidateQueries({ queryKey: networkKeys.all }),
  });

  // After the first submit, errors follow the input live so fixing a field clears its message.
  const fieldErrors = submitted ? { ...serverErrors, ...clientErrors(values) } : serverErrors;
  const preview = poolPreview(values, t);

  function onCreate(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (!actions) return;
    setSubmitted(true);
    setServerErrors({});
    const errors = clientErrors(values);
    if (Object.keys(errors).length > 0) {
      setMessage({ kind: "error", text: t("fixFields") });
      return;
    }
    run(actions.create({ ...values, projectId }), t("created", { name: values.name.trim() }), () => {
      setValues(EMPTY);
      setSubmitted(false);
    });
  }

  function onDelete(n: NetworkRow) {
    if (!actions) return;
    if (!confirm(t("confirmDelete", { name: n.name, vlan: n.vlanId, cidr: n.cidr }))) return;
    run(actions.remove({ id: n.id }), t("deleted", { name: n.name }));
  }

  const items = query.data?.items ?? [];

  return (
    <div className="space-y-6">
      <ActionMessage message={message} />

      {actions && (
        <section className="rounded-lg border border-slate-200 bg-white p-4">
          <h2 className="mb-3 font-semibold">{t("createTitle")}</h2>
          <form onSubmit={onCreate} noValidate aria-label={t("createLabel")} className="space-y-3">
            <div className="grid gap-3 sm:grid-cols-3 lg:grid-cols-6">
              {FIELDS.map((f) => {
                const error = fieldErrors[f.name];
                return (
                  <label key={f.name} className="text-sm">
                    <span className="block font-medium">
                      {t(`fields.${f.name}.label`)}
                      {f.hint && (
                        <span className="ml-1 text-xs font-normal text-slate-500">({t(`fields.${f.name}.hint`)})</span>
                      )}
                    </span>
                    <input
                      name={f.name}
                      value={values[f.name]}
                      onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
                      placeholder={t(`fields.${f.name}.placeholder`)}
                      inputMode={f.name === "vlanId" ? "numeric" : undefined}
                      autoComplete="off"
                      aria-invalid={!!error}
                      aria-describedby={error ? `net-${f.name}-err` : undefined}
                      className={
                        `mt-1 w-full rounded-md border px-2 py-1.5 ${f.name === "name" ? "" : "font-mono"} ` +
                        (error ? "border-red-400" : "border-slate-300")
                      }
                    />
                    {error && (
                      <span
                        id={`net-${f.name}-err`}
                        data-testid={`error-${f.name}`}
                        className="mt-1 block text-xs text-red-700"
                      >
                        {error}
                      </span>
                    )}
                  </label>
                );
              })}
            </div>
            <label className="block text-sm">
              <span className="block font-medium">{t("project")}</span>
              <select
                name="projectId"
                value={projectId}
                onChange={(e) => setValues((v) => ({ ...v, projectId: e.target.value }))}
                className="mt-1 rounded-md border border-slate-300 px-2 py-1.5"
              >
                {isAdmin && <option value="">{t("sharedOption")}</option>}
                {projects.data?.items.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </select>
              <span className="mt-1 block text-xs text-slate-500">
                {t("projectHint")}
                {isAdmin ? "" : ` ${t("onlyAdminsShared")}`}
              </span>
              {fieldErrors.projectId && (
                <span data-testid="error-projectId" className="mt-1 block text-xs text-red-700">
                  {fieldErrors.projectId}
                </span>
              )}
            </label>
            <div className="flex flex-wrap items-center gap-3">
              <button
                type="submit"
                disabled={pending}
                className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700 disabled:opacity-60"
              >
                {t("createLabel")}
              </button>
              {preview && (
                <span className="text-xs text-slate-600" data-testid="pool-preview">
                  {preview}
                </span>
              )}
            </div>
          </form>
        </section>
      )}

      {query.isError && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {query.error.message}
        </p>
      )}

      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600">
            <tr>
              {["name", "project", "vlan", "cidr", "gateway", "pool", "usedFree", "vms"].map((c) => (
                <th key={c} scope="col" className="px-3 py-2">
                  {t(`columns.${c}`)}
                </th>
              ))}
              {actions && (
                <th scope="col" className="px-3 py-2">
                  {t("columns.actions")}
                </th>
              )}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {items.map((n) => (
              <tr key={n.id} data-testid={`network-${n.name}`} className="hover:bg-slate-50">
                <td className="px-3 py-2 font-medium">{n.name}</td>
                <td className="px-3 py-2" data-testid="project">
                  {n.projectName ?? <span className="text-slate-500">{t("shared")}</span>}
                </td>
                <td className="px-3 py-2 font-mono">{n.vlanId}</td>
                <td className="px-3 py-2 font-mono">{n.cidr}</td>
                <td className="px-3 py-2 font-mono">{n.gateway}</td>
                <td className="px-3 py-2 font-mono text-xs">
                  {n.poolStart}–{n.poolEnd}
                </td>
                <td className="px-3 py-2">
                  <Usage n={n} />
                </td>
                <td className="px-3 py-2">{n.vmCount}</td>
                {actions && (
                  <td className="px-3 py-2">
                    {mayChange(n) && (
                      <button
                        type="button"
                        disabled={pending}
                        onClick={() => onDelete(n)}
                        title={n.nicCount > 0 ? t("inUse", { n: n.vmCount }) : undefined}
                        aria-label={t("deleteLabel", { name: n.name })}
                        className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50 disabled:opacity-50"
                      >
                        {t("delete")}
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {query.isSuccess && items.length === 0 && (
          <div className="px-6 py-10 text-center text-sm text-slate-600" data-testid="empty-state">
            {t("empty")} {actions ? t("emptyCanCreate") : t("emptyReadOnly")}
          </div>
        )}
        {query.isPending && <p className="px-6 py-10 text-center text-sm text-slate-500">{t("loading")}</p>}
      </div>
      {query.data && query.data.total > items.length && (
        <p className="text-xs text-slate-500">{t("firstOf", { shown: items.length, total: query.data.total })}</p>
      )}
    </div>
  );
}

function Usage({ n }: { n: NetworkRow }) {
  const pct = n.poolSize > 0 ? Math.round((n.usedAddresses / n.poolSize) * 100) : 100;
  const t = useTranslations("networks");
  return (
    <div className="min-w-36" title={t("usageTitle", { used: n.usedAddresses, size: n.poolSize })}>
      <span className="text-xs">
        {t.rich("usage", {
          used: n.usedAddresses,
          free: n.freeAddresses,
          u: (chunks) => <span data-testid="used">{chunks}</span>,
          f: (chunks) => (
            <span data-testid="free" className={n.freeAddresses === 0 ? "font-semibold text-red-700" : ""}>
              {chunks}
            </span>
          ),
        })}
      </span>
      <div className="mt-1 h-1.5 w-full rounded bg-slate-200" aria-hidden="true">
        <div
          className={`h-1.5 rounded ${pct >= 90 ? "bg-red-500" : pct >= 70 ? "bg-amber-500" : "bg-emerald-500"}`}
          style={{ width: `${pct}%` }}
        />
      </div>
    </div>
  );
}
