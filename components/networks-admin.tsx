"use client";
// Networks page: everyone who may read sees the networks of their projects and the shared ones (VLAN,
// CIDR, gateway, pool, address usage; polled). Operators and admins also get the create form
// (validated in the browser with the same zod schema the server uses, so the messages match):
// operators create networks in their projects, admins also shared ones (lib/server/networks/tenancy.ts).
// Delete (with a confirmation) shows only where the server would allow it.
import { useQuery, useQueryClient } from "@tanstack/react-query";
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

const FIELDS: Array<{
  name: Exclude<keyof CreateInput, "projectId">;
  label: string;
  placeholder: string;
  hint?: string;
}> = [
  { name: "name", label: "Name", placeholder: "lan" },
  { name: "vlanId", label: "VLAN", placeholder: "100", hint: "1–4094" },
  { name: "cidr", label: "CIDR", placeholder: "10.0.0.0/24", hint: "/8 to /30" },
  { name: "gateway", label: "Gateway", placeholder: "10.0.0.1" },
  { name: "poolStart", label: "Pool start", placeholder: "first usable", hint: "optional" },
  { name: "poolEnd", label: "Pool end", placeholder: "last usable", hint: "optional" },
];

const EMPTY: CreateInput = { name: "", vlanId: "", cidr: "", gateway: "", poolStart: "", poolEnd: "", projectId: "" };

function clientErrors(values: CreateInput): Record<string, string> {
  const r = createNetworkSchema.safeParse(values);
  const out: Record<string, string> = {};
  if (!r.success) for (const i of r.error.issues) out[i.path.map(String).join(".") || "_"] ??= i.message;
  return out;
}

/** "253 addresses (10.0.0.1–10.0.0.254, gateway excluded)" while the typed plan is valid. */
function poolPreview(values: CreateInput): string | null {
  const r = validateNetworkPlan(values);
  if (!r.ok) return null;
  const size = poolSize(r.plan);
  return `Pool ${r.plan.poolStart}–${r.plan.poolEnd}: ${size} address${size === 1 ? "" : "es"} for VMs (gateway ${r.plan.gateway} excluded).`;
}

export function NetworksAdmin({ actions, isAdmin = false }: { actions?: NetworkActions; isAdmin?: boolean }) {
  const queryClient = useQueryClient();
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
  const preview = poolPreview(values);

  function onCreate(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    if (!actions) return;
    setSubmitted(true);
    setServerErrors({});
    const errors = clientErrors(values);
    if (Object.keys(errors).length > 0) {
      setMessage({ kind: "error", text: "Fix the highlighted fields." });
      return;
    }
    run(actions.create({ ...values, projectId }), `Created network ${values.name.trim()}.`, () => {
      setValues(EMPTY);
      setSubmitted(false);
    });
  }

  function onDelete(n: NetworkRow) {
    if (!actions) return;
    if (!confirm(`Delete network ${n.name} (VLAN ${n.vlanId}, ${n.cidr})?`)) return;
    run(actions.remove({ id: n.id }), `Deleted network ${n.name}.`);
  }

  const items = query.data?.items ?? [];

  return (
    <div className="space-y-6">
      <ActionMessage message={message} />

      {actions && (
        <section className="rounded-lg border border-slate-200 bg-white p-4">
          <h2 className="mb-3 font-semibold">Create a network</h2>
          <form onSubmit={onCreate} noValidate aria-label="Create network" className="space-y-3">
            <div className="grid gap-3 sm:grid-cols-3 lg:grid-cols-6">
              {FIELDS.map((f) => {
                const error = fieldErrors[f.name];
                return (
                  <label key={f.name} className="text-sm">
                    <span className="block font-medium">
                      {f.label}
                      {f.hint && <span className="ml-1 text-xs font-normal text-slate-500">({f.hint})</span>}
                    </span>
                    <input
                      name={f.name}
                      value={values[f.name]}
                      onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
                      placeholder={f.placeholder}
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
              <span className="block font-medium">Project</span>
              <select
                name="projectId"
                value={projectId}
                onChange={(e) => setValues((v) => ({ ...v, projectId: e.target.value }))}
                className="mt-1 rounded-md border border-slate-300 px-2 py-1.5"
              >
                {isAdmin && <option value="">Shared (every project may attach)</option>}
                {projects.data?.items.map((p) => (
                  <option key={p.id} value={p.id}>
                    {p.name}
                  </option>
                ))}
              </select>
              <span className="mt-1 block text-xs text-slate-500">
                VMs attach only to networks of their own project or shared ones.
                {isAdmin ? "" : " Only admins create shared networks."}
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
                Create network
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
              <th scope="col" className="px-3 py-2">
                Name
              </th>
              <th scope="col" className="px-3 py-2">
                Project
              </th>
              <th scope="col" className="px-3 py-2">
                VLAN
              </th>
              <th scope="col" className="px-3 py-2">
                CIDR
              </th>
              <th scope="col" className="px-3 py-2">
                Gateway
              </th>
              <th scope="col" className="px-3 py-2">
                Pool
              </th>
              <th scope="col" className="px-3 py-2">
                Used / free
              </th>
              <th scope="col" className="px-3 py-2">
                VMs
              </th>
              {actions && (
                <th scope="col" className="px-3 py-2">
                  Actions
                </th>
              )}
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {items.map((n) => (
              <tr key={n.id} data-testid={`network-${n.name}`} className="hover:bg-slate-50">
                <td className="px-3 py-2 font-medium">{n.name}</td>
                <td className="px-3 py-2" data-testid="project">
                  {n.projectName ?? <span className="text-slate-500">shared</span>}
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
                        title={n.nicCount > 0 ? `In use by ${n.vmCount} VM(s): the server will refuse` : undefined}
                        aria-label={`Delete network ${n.name}`}
                        className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50 disabled:opacity-50"
                      >
                        Delete
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
            No networks yet.{" "}
            {actions
              ? "Create one above; VMs then get an address and a VLAN-tagged port from it."
              : "Operators create networks in their projects, admins shared ones; VMs then get an address from them."}
          </div>
        )}
        {query.isPending && <p className="px-6 py-10 text-center text-sm text-slate-500">Loading…</p>}
      </div>
      {query.data && query.data.total > items.length && (
        <p className="text-xs text-slate-500">
          Showing the first {items.length} of {query.data.total} networks (the API pages through the rest: GET
          /api/v1/networks?page=2).
        </p>
      )}
    </div>
  );
}

function Usage({ n }: { n: NetworkRow }) {
  const pct = n.poolSize > 0 ? Math.round((n.usedAddresses / n.poolSize) * 100) : 100;
  return (
    <div className="min-w-36" title={`${n.usedAddresses} of ${n.poolSize} pool addresses in use`}>
      <span className="text-xs">
        <span data-testid="used">{n.usedAddresses}</span> used ·{" "}
        <span data-testid="free" className={n.freeAddresses === 0 ? "font-semibold text-red-700" : ""}>
          {n.freeAddresses}
        </span>{" "}
        free
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
