"use client";
// Security groups page (ADR 052): create and delete groups, add and remove allow rules, attach groups to a
// VM. Every change is a server action (zod + role + project checked on the server); a rule change applies
// to the VMs' ports live. Strings: messages/<locale>/securityGroups.json; protocols, CIDRs and port numbers
// stay as typed. Server messages (ActionMessage, field errors) stay English (ADR 051).
import { useState } from "react";
import { useTranslations } from "next-intl";
import type { ActionResult } from "@/lib/action-result";
import { ActionMessage, CreateFormCard, useActionRunner } from "@/components/admin-form";

export type SecurityGroupRuleView = {
  id: string;
  direction: string;
  protocol: string;
  portMin: number | null;
  portMax: number | null;
  remoteCidr: string | null;
  remoteGroupId: string | null;
};
export type SecurityGroupView = {
  id: string;
  name: string;
  description: string | null;
  projectId: string;
  vmCount: number;
  rules: SecurityGroupRuleView[];
};
type Act<I> = (input: I) => Promise<ActionResult>;
type RuleInput = {
  direction: "in" | "out";
  protocol: "tcp" | "udp" | "icmp" | "any";
  portMin?: number;
  portMax?: number;
  remoteCidr?: string;
  remoteGroupId?: string;
};
export type SecurityGroupActions = {
  create: Act<{ name: string; description?: string }>;
  remove: Act<{ id: string }>;
  addRule: Act<{ groupId: string; rule: RuleInput }>;
  removeRule: Act<{ groupId: string; ruleId: string }>;
  attach: Act<{ id: string; securityGroupIds: string[] }>;
};

const input = "mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5";
const small = "rounded-md border border-slate-300 px-2 py-1 text-sm hover:bg-slate-50 disabled:opacity-60";

type T = ReturnType<typeof useTranslations>;

function protocolLabel(p: string, t: T): string {
  return p === "any" ? t("protocolAny") : p;
}

function describeRule(r: SecurityGroupRuleView, names: Map<string, string>, t: T): string {
  const remote =
    r.remoteCidr ??
    (r.remoteGroupId ? t("remoteGroup", { name: names.get(r.remoteGroupId) ?? r.remoteGroupId }) : t("anywhere"));
  // Port numbers as strings: no digit grouping ("65535", not "65,535").
  return t("rule", {
    direction: r.direction === "in" ? "in" : "out",
    protocol: protocolLabel(r.protocol, t),
    ports: r.portMin === null ? "none" : r.portMin === r.portMax ? "one" : "range",
    portMin: String(r.portMin ?? ""),
    portMax: String(r.portMax ?? ""),
    remote,
  });
}

function RuleForm({
  group,
  groups,
  actions,
  run,
  pending,
}: {
  group: SecurityGroupView;
  groups: SecurityGroupView[];
  actions: SecurityGroupActions;
  run: ReturnType<typeof useActionRunner>["run"];
  pending: boolean;
}) {
  const t = useTranslations("securityGroups");
  const submit = (e: React.FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const s = (k: string) => String(f.get(k) ?? "").trim();
    const remote = s("remote");
    const rule: RuleInput = {
      direction: s("direction") === "out" ? "out" : "in",
      protocol: (["tcp", "udp", "icmp"] as const).find((p) => p === s("protocol")) ?? "any",
      ...(s("portMin") ? { portMin: Number(s("portMin")), portMax: Number(s("portMax") || s("portMin")) } : {}),
      ...(remote.startsWith("group:") ? { remoteGroupId: remote.slice(6) } : remote ? { remoteCidr: remote } : {}),
    };
    const form = e.currentTarget;
    run(actions.addRule({ groupId: group.id, rule }), t("added", { name: group.name }), () => form.reset());
  };
  const peers = groups.filter((g) => g.projectId === group.projectId);
  return (
    <form
      onSubmit={submit}
      aria-label={t("addRuleLabel", { name: group.name })}
      className="mt-2 grid gap-2 sm:grid-cols-6"
    >
      <label className="text-sm">
        <span className="block font-medium">{t("direction.label")}</span>
        <select name="direction" className={input} defaultValue="in">
          <option value="in">{t("direction.in")}</option>
          <option value="out">{t("direction.out")}</option>
        </select>
      </label>
      <label className="text-sm">
        <span className="block font-medium">{t("protocol")}</span>
        <select name="protocol" className={input} defaultValue="tcp">
          {["tcp", "udp", "icmp", "any"].map((p) => (
            <option key={p} value={p}>
              {protocolLabel(p, t)}
            </option>
          ))}
        </select>
      </label>
      <label className="text-sm">
        <span className="block font-medium">{t("portFrom")}</span>
        <input name="portMin" type="number" min={1} max={65535} className={input} placeholder="22" />
      </label>
      <label className="text-sm">
        <span className="block font-medium">{t("portTo")}</span>
        <input
          name="portMax"
          type="number"
          min={1}
          max={65535}
          className={input}
          placeholder={t("portToPlaceholder")}
        />
      </label>
      <label className="text-sm">
        <span className="block font-medium">{t("remote")}</span>
        <input name="remote" list={`remotes-${group.id}`} className={input} placeholder={t("remotePlaceholder")} />
        <datalist id={`remotes-${group.id}`}>
          {peers.map((g) => (
            <option key={g.id} value={`group:${g.id}`}>
              {g.name}
            </option>
          ))}
        </datalist>
      </label>
      <div className="flex items-end">
        <button type="submit" disabled={pending} className={small}>
          {t("addRule")}
        </button>
      </div>
    </form>
  );
}

export function SecurityGroupsManager({
  groups,
  vms,
  actions,
  canManage,
}: {
  groups: SecurityGroupView[];
  vms: Array<{ id: string; name: string; projectId: string | null }>;
  actions: SecurityGroupActions;
  canManage: boolean;
}) {
  const t = useTranslations("securityGroups");
  const { run, pending, message, fieldErrors } = useActionRunner();
  const [vmId, setVmId] = useState(vms[0]?.id ?? "");
  const names = new Map(groups.map((g) => [g.id, g.name]));
  const create = (e: React.FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const description = String(f.get("description") ?? "").trim();
    run(
      actions.create({ name: String(f.get("name") ?? "").trim(), ...(description ? { description } : {}) }),
      t("created"),
      () => form.reset(),
    );
  };
  const attach = (e: React.FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const ids = new FormData(e.currentTarget).getAll("group").map(String);
    run(actions.attach({ id: vmId, securityGroupIds: ids }), t("attached"));
  };
  const vm = vms.find((v) => v.id === vmId);
  return (
    <div className="space-y-4">
      <ActionMessage message={message} />
      {canManage && (
        <CreateFormCard
          title={t("create.label")}
          label={t("create.label")}
          className="grid gap-3 sm:grid-cols-3"
          onSubmit={create}
          pending={pending}
        >
          <label className="text-sm">
            <span className="block font-medium">{t("create.name")}</span>
            <input name="name" required maxLength={64} className={input} aria-invalid={!!fieldErrors.name} />
            {fieldErrors.name && <span className="mt-1 block text-xs text-red-700">{fieldErrors.name}</span>}
          </label>
          <label className="text-sm">
            <span className="block font-medium">{t("create.description")}</span>
            <input name="description" maxLength={255} className={input} />
          </label>
        </CreateFormCard>
      )}
      {groups.length === 0 && <p className="text-sm text-slate-600">{t("empty")}</p>}
      {groups.map((g) => (
        <section
          key={g.id}
          aria-label={t("groupLabel", { name: g.name })}
          className="rounded-lg border border-slate-200 bg-white p-4"
        >
          <div className="flex flex-wrap items-center justify-between gap-2">
            <h2 className="font-semibold break-all">
              {g.name} <span className="text-sm font-normal text-slate-600">{t("vmCount", { count: g.vmCount })}</span>
            </h2>
            {canManage && (
              <button
                type="button"
                className={small}
                disabled={pending}
                onClick={() => run(actions.remove({ id: g.id }), t("deleted", { name: g.name }))}
              >
                {t("deleteGroup")}
              </button>
            )}
          </div>
          {g.description && <p className="text-sm text-slate-600">{g.description}</p>}
          <ul className="mt-2 space-y-1 text-sm">
            {g.rules.length === 0 && <li className="text-slate-600">{t("noRules")}</li>}
            {g.rules.map((r) => (
              <li key={r.id} className="flex flex-wrap items-center justify-between gap-2">
                <span>{describeRule(r, names, t)}</span>
                {canManage && (
                  <button
                    type="button"
                    className={small}
                    disabled={pending}
                    onClick={() => run(actions.removeRule({ groupId: g.id, ruleId: r.id }), t("removed"))}
                  >
                    {t("remove")}
                  </button>
                )}
              </li>
            ))}
          </ul>
          {canManage && <RuleForm group={g} groups={groups} actions={actions} run={run} pending={pending} />}
        </section>
      ))}
      {canManage && vms.length > 0 && (
        <section className="rounded-lg border border-slate-200 bg-white p-4">
          <h2 className="mb-2 font-semibold">{t("attach.title")}</h2>
          <form onSubmit={attach} aria-label={t("attach.label")} className="space-y-2">
            <label className="text-sm">
              <span className="block font-medium">{t("attach.vm")}</span>
              <select className={input} value={vmId} onChange={(e) => setVmId(e.target.value)}>
                {vms.map((v) => (
                  <option key={v.id} value={v.id}>
                    {v.name}
                  </option>
                ))}
              </select>
            </label>
            <fieldset className="flex flex-wrap gap-3 text-sm">
              <legend className="font-medium">{t("attach.groups")}</legend>
              {groups
                .filter(
                  (g) => vm && (g.projectId === vm.projectId || (vm.projectId === null && g.projectId === "default")),
                )
                .map((g) => (
                  <label key={g.id} className="flex items-center gap-1">
                    <input type="checkbox" name="group" value={g.id} /> {g.name}
                  </label>
                ))}
            </fieldset>
            <button type="submit" disabled={pending} className={small}>
              {t("attach.submit")}
            </button>
          </form>
        </section>
      )}
    </div>
  );
}
