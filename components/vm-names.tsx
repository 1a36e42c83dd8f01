"use client";
// A VM's names (issue 17): the display name in any script and the DNS-safe guest hostname, both
// editable (PATCH /api/v1/vms/:id {name, hostname}). The hostname also reaches the guest through
// cloud-init at its next boot; the server refuses it mid-create or mid-move and says why.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState, type FormEvent } from "react";
import { vmKeys, vmQuery } from "@/lib/queries/vms";
import { writeJson } from "@/lib/queries/volumes";
import { listKeys } from "@/lib/queries/lists";
import type { VmDto } from "@/lib/schemas/api";
import { hostnameSchema, vmDisplayNameSchema } from "@/lib/schemas/display-name";

const firstIssue = (r: { success: boolean; error?: { issues: { message: string }[] } }) =>
  r.success ? null : (r.error?.issues[0]?.message ?? null);

export function VmNames({ vmId, canOperate }: { vmId: string; canOperate: boolean }) {
  const t = useTranslations("vmNames");
  const qc = useQueryClient();
  const vm = useQuery(vmQuery(vmId));
  const [editing, setEditing] = useState<{ name: string; hostname: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (body: { name?: string; hostname?: string }) =>
      writeJson<VmDto>("PATCH", `/api/v1/vms/${encodeURIComponent(vmId)}`, body),
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSuccess: (dto) => {
      qc.setQueryData(vmKeys.detail(vmId), dto);
      setEditing(null);
    },
    onSettled: () =>
      Promise.all(
        [vmKeys.detail(vmId), vmKeys.events(vmId), listKeys.all("vms")].map((queryKey) =>
          qc.invalidateQueries({ queryKey }),
        ),
      ),
  });
  if (!vm.data) return null;
  const { name, hostname } = vm.data;
  const nameError = editing ? firstIssue(vmDisplayNameSchema.safeParse(editing.name)) : null;
  const hostnameError = editing ? firstIssue(hostnameSchema.safeParse(editing.hostname)) : null;

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!editing || nameError || hostnameError) return;
    const body: { name?: string; hostname?: string } = {};
    if (editing.name.trim() !== name) body.name = editing.name;
    if (editing.hostname.trim() !== hostname) body.hostname = editing.hostname.trim();
    if (Object.keys(body).length === 0) return setEditing(null);
    save.mutate(body);
  }

  return (
    <section data-testid="vm-names" aria-labelledby="vm-names-title">
      <h2 id="vm-names-title" className="mb-2 text-lg font-semibold">
        {t("title")}
      </h2>
      {editing ? (
        <form onSubmit={submit} className="grid max-w-xl gap-3 text-sm" noValidate>
          <label className="block">
            <span className="font-medium">{t("name")}</span>
            <input
              data-testid="vm-names-name"
              className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5"
              value={editing.name}
              aria-invalid={!!nameError}
              onChange={(e) => setEditing({ ...editing, name: e.target.value })}
            />
            {nameError && <span className="mt-1 block text-xs text-red-700">{nameError}</span>}
          </label>
          <label className="block">
            <span className="font-medium">{t("hostname")}</span>
            <input
              data-testid="vm-names-hostname"
              className="mt-1 block w-full rounded-md border border-slate-300 px-3 py-1.5 font-mono"
              value={editing.hostname}
              aria-invalid={!!hostnameError}
              aria-describedby="vm-names-hostname-hint"
              onChange={(e) => setEditing({ ...editing, hostname: e.target.value })}
            />
            <span id="vm-names-hostname-hint" className="mt-1 block text-xs text-slate-600">
              {t("hostnameHint")}
            </span>
            {hostnameError && <span className="mt-1 block text-xs text-red-700">{hostnameError}</span>}
          </label>
          <div className="flex gap-2">
            <button
              type="submit"
              data-testid="vm-names-save"
              disabled={save.isPending || !!nameError || !!hostnameError}
              className="rounded-md bg-slate-900 px-3 py-1.5 font-medium text-white disabled:opacity-50"
            >
              {save.isPending ? t("saving") : t("save")}
            </button>
            <button
              type="button"
              onClick={() => setEditing(null)}
              className="rounded-md border border-slate-300 px-3 py-1.5"
            >
              {t("cancel")}
            </button>
          </div>
        </form>
      ) : (
        <dl className="grid max-w-xl grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
          <dt className="text-slate-600">{t("name")}</dt>
          <dd data-testid="vm-names-name-value">{name}</dd>
          <dt className="text-slate-600">{t("hostname")}</dt>
          <dd data-testid="vm-names-hostname-value" className="font-mono">
            {hostname}
          </dd>
        </dl>
      )}
      {canOperate && !editing && (
        <button
          type="button"
          data-testid="vm-names-edit"
          onClick={() => setEditing({ name, hostname })}
          className="mt-2 rounded-md border border-slate-300 px-3 py-1.5 text-sm"
        >
          {t("edit")}
        </button>
      )}
      {error && (
        <p role="alert" className="mt-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
    </section>
  );
}
