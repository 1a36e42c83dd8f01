"use client";
// Instance types page (admins, ADR 050): create, edit and delete the sizes the VM wizard offers. Every
// change is a server action that checks instanceType:manage and audits; the form sends what was typed
// and the server's zod schema answers per field.
import { useTranslations } from "next-intl";
import { useState } from "react";
import type { ActionResult } from "@/lib/action-result";
import { ActionMessage, CreateFormCard, useActionRunner, type RunAction } from "@/components/admin-form";
import { ARCHES, ARCH_LABELS } from "@/lib/arch-labels";
import { formatInstanceSize, type InstanceTypeView } from "@/lib/instance-type-size";
import { EditFormButtons } from "@/components/edit-form-buttons";

export type InstanceTypeRow = InstanceTypeView & {
  vmCount: number;
};
/** What a form sends: the fields as typed; arch "" = every arch. */
type TypeFields = { name: string; vcpus: string; memoryMb: string; diskGb: string; arch: string; description: string };
type Act<I> = (input: I) => Promise<ActionResult>;
export type InstanceTypeActions = {
  create: Act<TypeFields>;
  update: Act<TypeFields & { id: string }>;
  remove: Act<{ id: string }>;
};

const input = "mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5";

function fieldsOf(form: HTMLFormElement): TypeFields {
  const f = new FormData(form);
  const s = (k: string) => String(f.get(k) ?? "").trim();
  return {
    name: s("name"),
    vcpus: s("vcpus"),
    memoryMb: s("memoryMb"),
    diskGb: s("diskGb"),
    arch: s("arch"),
    description: s("description"),
  };
}

/** The inputs of the create and the edit form (same names, same limits as lib/schemas/instance-types.ts). */
function TypeInputs({ t, errors }: { t?: InstanceTypeRow; errors: Record<string, string | undefined> }) {
  const tr = useTranslations("instanceTypes");
  const num = (name: "vcpus" | "memoryMb" | "diskGb", label: string, min: number, fallback: number) => (
    <label className="text-sm">
      <span className="block font-medium">{label}</span>
      <input
        name={name}
        type="number"
        required
        min={min}
        defaultValue={t ? t[name] : fallback}
        aria-invalid={!!errors[name]}
        className={input}
      />
      {errors[name] && <span className="mt-1 block text-xs text-red-700">{errors[name]}</span>}
    </label>
  );
  return (
    <>
      <label className="text-sm">
        <span className="block font-medium">{tr("name")}</span>
        <input
          name="name"
          required
          maxLength={63}
          placeholder="m1.small"
          defaultValue={t?.name}
          autoComplete="off"
          aria-invalid={!!errors.name}
          className={input}
        />
        {errors.name && <span className="mt-1 block text-xs text-red-700">{errors.name}</span>}
      </label>
      {num("vcpus", tr("vcpus"), 1, 1)}
      {num("memoryMb", tr("memoryMib"), 64, 1024)}
      {num("diskGb", tr("diskGib"), 1, 10)}
      <label className="text-sm">
        <span className="block font-medium">{tr("architecture")}</span>
        <select name="arch" defaultValue={t?.arch ?? ""} className={input}>
          <option value="">{tr("anyArchitecture")}</option>
          {ARCHES.map((a) => (
            <option key={a} value={a}>
              {tr("archOnly", { arch: ARCH_LABELS[a] })}
            </option>
          ))}
        </select>
      </label>
      <label className="text-sm">
        <span className="block font-medium">
          {tr("description")} <span className="text-xs font-normal text-slate-500">{tr("optional")}</span>
        </span>
        <input
          name="description"
          maxLength={500}
          defaultValue={t?.description ?? ""}
          autoComplete="off"
          className={input}
        />
      </label>
    </>
  );
}

export function InstanceTypesAdmin({ types, actions }: { types: InstanceTypeRow[]; actions: InstanceTypeActions }) {
  const { run, pending, message, fieldErrors } = useActionRunner();
  const tr = useTranslations("instanceTypes");

  function onCreate(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const fields = fieldsOf(form);
    run(actions.create(fields), tr("created", { name: fields.name }), () => form.reset());
  }

  return (
    <div className="space-y-8">
      <ActionMessage message={message} />
      <CreateFormCard
        title={tr("createTitle")}
        label={tr("createLabel")}
        className="grid gap-3 sm:grid-cols-3 lg:grid-cols-[2fr_1fr_1fr_1fr_1.5fr_2fr_auto]"
        onSubmit={onCreate}
        pending={pending}
      >
        <TypeInputs errors={fieldErrors} />
      </CreateFormCard>

      {types.length === 0 ? (
        <p className="text-sm text-slate-600">{tr("empty")}</p>
      ) : (
        <ul className="space-y-3" aria-label={tr("listLabel")}>
          {types.map((t) => (
            <TypeCard key={t.id} t={t} pending={pending} actions={actions} run={run} />
          ))}
        </ul>
      )}
    </div>
  );
}

function TypeCard({
  t,
  pending,
  actions,
  run,
}: {
  t: InstanceTypeRow;
  pending: boolean;
  actions: InstanceTypeActions;
  run: RunAction;
}) {
  const [editing, setEditing] = useState(false);
  const tr = useTranslations("instanceTypes");

  function onSave(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const fields = fieldsOf(e.currentTarget);
    run(actions.update({ id: t.id, ...fields }), tr("saved", { name: fields.name }), () => setEditing(false));
  }

  return (
    <li data-testid={`instance-type-${t.name}`} className="rounded-lg border border-slate-200 bg-white p-4">
      {editing ? (
        <form
          onSubmit={onSave}
          aria-label={tr("editLabel", { name: t.name })}
          className="grid gap-3 sm:grid-cols-3 lg:grid-cols-[2fr_1fr_1fr_1fr_1.5fr_2fr_auto]"
        >
          <TypeInputs t={t} errors={{}} />
          <div className="flex items-end gap-2">
            <EditFormButtons pending={pending} onCancel={() => setEditing(false)} />
          </div>
        </form>
      ) : (
        <div className="flex flex-wrap items-start justify-between gap-3">
          <div>
            <h2 className="flex items-center gap-2 text-lg font-semibold">
              {t.name}
              <span className="rounded-full bg-slate-100 px-2 py-0.5 text-xs font-normal text-slate-600">
                {t.arch ? tr("archOnly", { arch: t.arch }) : tr("anyArchitectureLower")}
              </span>
            </h2>
            <p className="text-sm text-slate-700">{formatInstanceSize(t)}</p>
            {t.description && <p className="text-sm text-slate-600">{t.description}</p>}
            <p className="mt-1 text-xs text-slate-500">{tr("vmCount", { n: t.vmCount })}</p>
          </div>
          <div className="flex gap-2">
            <button
              type="button"
              onClick={() => setEditing(true)}
              aria-label={tr("editLabel", { name: t.name })}
              className="rounded border border-slate-300 px-2 py-1 text-xs"
            >
              {tr("edit")}
            </button>
            <button
              type="button"
              disabled={pending}
              aria-label={tr("deleteLabel", { name: t.name })}
              onClick={() => {
                const note = t.vmCount > 0 ? ` ${tr("keepSizes", { n: t.vmCount })}` : "";
                if (confirm(`${tr("confirmDelete", { name: t.name })}${note}`))
                  run(actions.remove({ id: t.id }), tr("deleted", { name: t.name }));
              }}
              className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50 disabled:opacity-50"
            >
              {tr("delete")}
            </button>
          </div>
        </div>
      )}
    </li>
  );
}
