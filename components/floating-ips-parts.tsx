"use client";
// What the floating IPs page's sections share (components/floating-ips.tsx, floating-ips-routing.tsx):
// the views the page hands them, the actions, and a labelled input with the server's field error.
import type { ActionResult } from "@/lib/action-result";

export type ExternalNetworkView = {
  id: string;
  name: string;
  cidr: string;
  gateway: string | null;
  poolStart: string;
  poolEnd: string;
  poolSize: number;
  usedAddresses: number;
  routerCount: number;
};
export type RouterView = {
  id: string;
  name: string;
  networkName: string;
  externalNetworkName: string;
  snat: boolean;
  /** the caller may toggle SNAT and delete it (the server checks again) */
  mayChange: boolean;
  ports: Array<{ hostId: string; hostName: string; address: string; state: string; error: string | null }>;
};
export type FloatingIpView = {
  id: string;
  address: string;
  externalNetworkName: string;
  projectId: string;
  projectName: string;
  description: string | null;
  nicId: string | null;
  vmName: string | null;
  fixedIp: string | null;
  hostName: string | null;
};
export type NicChoice = { id: string; vmName: string; ip: string; projectId: string };
export type Choice = { id: string; name: string };

type Act<I> = (input: I) => Promise<ActionResult>;
export type FloatingIpActions = {
  createExternal: Act<{ name: string; cidr: string; gateway?: string; poolStart?: string; poolEnd?: string }>;
  removeExternal: Act<{ id: string }>;
  createRouter: Act<{ name: string; networkId: string; externalNetworkId: string; snat: boolean }>;
  updateRouter: Act<{ id: string; snat: boolean }>;
  removeRouter: Act<{ id: string }>;
  allocate: Act<{ externalNetworkId: string; projectId?: string; description?: string; nicId?: string }>;
  map: Act<{ id: string; nicId: string | null }>;
  release: Act<{ id: string }>;
};

export const inputClass = "mt-1 w-full rounded-md border px-2 py-1.5";
export const smallButton = "rounded-md border border-slate-300 px-2 py-1 text-sm hover:bg-slate-50 disabled:opacity-60";
export const dangerButton =
  "rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50 disabled:opacity-50";
export const card = "rounded-lg border border-slate-200 bg-white p-4";
export const th = "px-3 py-2";
export const thead = "bg-slate-50 text-left text-xs font-semibold uppercase tracking-wide text-slate-600";

/**
 * A table with a screen-reader caption and one header per column label (plus "actions" when given);
 * the rows are the children.
 */
export function ListTable({
  caption,
  columns,
  actions,
  children,
}: {
  caption: string;
  columns: string[];
  actions?: string | false;
  children: React.ReactNode;
}) {
  return (
    <table className="min-w-full divide-y divide-slate-200 text-sm">
      <caption className="sr-only">{caption}</caption>
      <thead className={thead}>
        <tr>
          {[...columns, ...(actions ? [actions] : [])].map((label) => (
            <th key={label} scope="col" className={th}>
              {label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody className="divide-y divide-slate-100">{children}</tbody>
    </table>
  );
}

/**
 * A labelled control; `error` (the server's zod message for this field) shows under it. The label sits
 * beside the control (htmlFor), not around it, so a select's name is the label alone, not label + value.
 */
export function Field({
  label,
  error,
  id,
  children,
}: {
  label: string;
  error?: string;
  id: string;
  children: React.ReactNode;
}) {
  return (
    <div className="text-sm">
      <label htmlFor={id} className="block font-medium">
        {label}
      </label>
      {children}
      {error && (
        <span id={`${id}-err`} data-testid={`error-${id}`} className="mt-1 block text-xs text-red-700">
          {error}
        </span>
      )}
    </div>
  );
}

/** The props a control inside Field takes: its id, and its error state. */
export function invalid(error: string | undefined, id: string) {
  return {
    id,
    "aria-invalid": !!error,
    "aria-describedby": error ? `${id}-err` : undefined,
    className: `${inputClass} ${error ? "border-red-400" : "border-slate-300"}`,
  };
}

/** FormData field as a trimmed string. */
export function field(f: FormData, name: string): string {
  return String(f.get(name) ?? "").trim();
}
