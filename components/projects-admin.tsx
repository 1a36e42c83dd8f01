"use client";
// Projects page (admins): create, rename, delete (only when empty — the server refuses otherwise),
// add and remove members. Every change is a server action that checks project:manage and audits.
import { useTranslations } from "next-intl";
import { useState } from "react";
import type { ActionResult } from "@/lib/action-result";
import { ActionMessage, CreateFormCard, useActionRunner, type RunAction } from "@/components/admin-form";
import { useDisplayFormat } from "@/components/use-display-format";
import type { ProjectDto } from "@/lib/schemas/projects";
import { EditFormButtons } from "@/components/edit-form-buttons";

/** A project as the API answers it to an admin (lib/schemas/projects.ts projectDtoSchema): members always there. */
export type ProjectRow = ProjectDto & { members: NonNullable<ProjectDto["members"]> };
type UserOption = { id: string; email: string; role: string };
type Act<I> = (input: I) => Promise<ActionResult>;
export type ProjectActions = {
  create: Act<{ name: string; description: string }>;
  update: Act<{ id: string; name: string; description: string }>;
  /** imageQuotaGb: GiB as typed, "" = the default quota */
  setQuota: Act<{ id: string; imageQuotaGb: string }>;
  remove: Act<{ id: string }>;
  addMember: Act<{ id: string; userId: string }>;
  removeMember: Act<{ id: string; userId: string }>;
};

export function ProjectsAdmin({
  projects,
  users,
  actions,
}: {
  projects: ProjectRow[];
  users: UserOption[];
  actions: ProjectActions;
}) {
  const { run, pending, message, fieldErrors } = useActionRunner();
  const t = useTranslations("projects");

  function onCreate(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const input = { name: String(f.get("name") ?? "").trim(), description: String(f.get("description") ?? "") };
    run(actions.create(input), t("created", { name: input.name }), () => form.reset());
  }

  return (
    <div className="space-y-8">
      <ActionMessage message={message} />

      <CreateFormCard
        title={t("createTitle")}
        label={t("createLabel")}
        className="grid gap-3 sm:grid-cols-[1fr_2fr_auto]"
        onSubmit={onCreate}
        pending={pending}
      >
        <label className="text-sm">
          <span className="block font-medium">{t("name")}</span>
          <input
            name="name"
            required
            maxLength={63}
            autoComplete="off"
            aria-invalid={!!fieldErrors.name}
            className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
          />
          {fieldErrors.name && <span className="mt-1 block text-xs text-red-700">{fieldErrors.name}</span>}
        </label>
        <label className="text-sm">
          <span className="block font-medium">
            {t("description")} <span className="text-xs font-normal text-slate-500">{t("optional")}</span>
          </span>
          <input
            name="description"
            maxLength={500}
            autoComplete="off"
            className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
          />
        </label>
      </CreateFormCard>

      <ul className="space-y-4">
        {projects.map((p) => (
          <ProjectCard key={p.id} project={p} users={users} pending={pending} actions={actions} run={run} />
        ))}
      </ul>
    </div>
  );
}

function ProjectCard({
  project: p,
  users,
  pending,
  actions,
  run,
}: {
  project: ProjectRow;
  users: UserOption[];
  pending: boolean;
  actions: ProjectActions;
  run: RunAction;
}) {
  const t = useTranslations("projects");
  const fmt = useDisplayFormat();
  const [editing, setEditing] = useState(false);
  const [userId, setUserId] = useState("");
  const users_ = useTranslations("users");
  const roleName = (role: string) => (users_.has(`roles.${role}`) ? users_(`roles.${role}`) : role);
  const memberIds = new Set(p.members.map((m) => m.id));
  const candidates = users.filter((u) => !memberIds.has(u.id));

  function onRename(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const name = String(f.get("name") ?? "").trim();
    run(actions.update({ id: p.id, name, description: String(f.get("description") ?? "") }), t("saved", { name }), () =>
      setEditing(false),
    );
  }

  return (
    <li data-testid={`project-${p.name}`} className="rounded-lg border border-slate-200 bg-white p-4">
      <div className="flex flex-wrap items-start justify-between gap-3">
        {editing ? (
          <form
            onSubmit={onRename}
            aria-label={t("editLabel", { name: p.name })}
            className="flex flex-wrap items-end gap-2"
          >
            <label className="text-sm">
              <span className="block font-medium">{t("name")}</span>
              <input
                name="name"
                defaultValue={p.name}
                required
                maxLength={63}
                className="mt-1 rounded-md border border-slate-300 px-2 py-1"
              />
            </label>
            <label className="text-sm">
              <span className="block font-medium">{t("description")}</span>
              <input
                name="description"
                defaultValue={p.description ?? ""}
                maxLength={500}
                className="mt-1 w-72 rounded-md border border-slate-300 px-2 py-1"
              />
            </label>
            <EditFormButtons pending={pending} onCancel={() => setEditing(false)} />
          </form>
        ) : (
          <div>
            <h2 className="flex items-center gap-2 text-lg font-semibold">
              {p.name}
              {p.isDefault && (
                <span
                  className="rounded-full bg-slate-100 px-2 py-0.5 text-xs font-normal text-slate-600"
                  title={t("defaultTitle")}
                >
                  {t("default")}
                </span>
              )}
            </h2>
            {p.description && <p className="text-sm text-slate-600">{p.description}</p>}
            <p className="mt-1 text-xs text-slate-500">
              {t.rich("summary", {
                vms: p.vmCount,
                members: p.memberCount,
                created: fmt.when(p.createdAt),
                n: (chunks) => <span data-testid="vm-count">{chunks}</span>,
              })}
            </p>
            <ImageQuota p={p} pending={pending} actions={actions} run={run} />
          </div>
        )}
        {!editing && (
          <div className="flex gap-2">
            <button
              type="button"
              onClick={() => setEditing(true)}
              className="rounded border border-slate-300 px-2 py-1 text-xs"
            >
              {t("rename")}
            </button>
            {!p.isDefault && (
              <button
                type="button"
                disabled={pending}
                aria-label={t("deleteLabel", { name: p.name })}
                title={p.vmCount > 0 ? t("hasVms", { n: p.vmCount }) : undefined}
                onClick={() => {
                  if (confirm(t("confirmDelete", { name: p.name })))
                    run(actions.remove({ id: p.id }), t("deleted", { name: p.name }));
                }}
                className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50 disabled:opacity-50"
              >
                {t("delete")}
              </button>
            )}
          </div>
        )}
      </div>

      <div className="mt-3">
        <h3 className="text-sm font-medium">{t("members")}</h3>
        {p.members.length === 0 ? (
          <p className="text-sm text-slate-500">{t("noMembers")}</p>
        ) : (
          <ul className="mt-1 flex flex-wrap gap-2" aria-label={t("membersOf", { name: p.name })}>
            {p.members.map((m) => (
              <li
                key={m.id}
                data-testid={`member-${m.email}`}
                className="flex max-w-full items-center gap-1 rounded-full bg-slate-100 py-0.5 pl-3 pr-1 text-sm [overflow-wrap:anywhere]"
              >
                {m.email} <span className="text-xs text-slate-600">({roleName(m.role)})</span>
                <button
                  type="button"
                  disabled={pending}
                  aria-label={t("removeMember", { email: m.email, name: p.name })}
                  onClick={() =>
                    run(
                      actions.removeMember({ id: p.id, userId: m.id }),
                      t("removed", { email: m.email, name: p.name }),
                    )
                  }
                  className="ml-1 rounded-full px-1.5 text-slate-600 hover:bg-slate-200 hover:text-red-700"
                >
                  ×
                </button>
              </li>
            ))}
          </ul>
        )}
        {candidates.length > 0 && (
          <form
            className="mt-2 flex flex-wrap items-center gap-2"
            aria-label={t("addMemberTo", { name: p.name })}
            onSubmit={(e) => {
              e.preventDefault();
              const u = users.find((x) => x.id === userId);
              if (u)
                run(actions.addMember({ id: p.id, userId }), t("added", { email: u.email, name: p.name }), () =>
                  setUserId(""),
                );
            }}
          >
            <select
              aria-label={t("userToAdd", { name: p.name })}
              value={userId}
              onChange={(e) => setUserId(e.target.value)}
              className="rounded-md border border-slate-300 px-2 py-1 text-sm"
            >
              <option value="">{t("chooseUser")}</option>
              {candidates.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.email} ({roleName(u.role)})
                </option>
              ))}
            </select>
            <button
              type="submit"
              disabled={pending || !userId}
              className="rounded-md px-3 py-1 text-sm ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50"
            >
              {t("addMember")}
            </button>
          </form>
        )}
      </div>
    </li>
  );
}

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${+(bytes / GiB).toFixed(2)} GiB`;

/** Image bytes of the project and its quota (uploads and imports beyond it are refused with 413; ADR 027). */
function ImageQuota({
  p,
  pending,
  actions,
  run,
}: {
  p: ProjectRow;
  pending: boolean;
  actions: ProjectActions;
  run: RunAction;
}) {
  const t = useTranslations("projects");
  const quota =
    p.imageQuotaBytes === null ? t("defaultQuota") : p.imageQuotaBytes === 0 ? t("noLimit") : gib(p.imageQuotaBytes);
  function onSave(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const imageQuotaGb = String(new FormData(e.currentTarget).get("imageQuotaGb") ?? "").trim();
    run(actions.setQuota({ id: p.id, imageQuotaGb }), t("quotaSaved", { name: p.name }));
  }
  return (
    <form
      onSubmit={onSave}
      aria-label={t("quotaOf", { name: p.name })}
      className="mt-2 flex flex-wrap items-center gap-2 text-xs"
    >
      <span data-testid="image-usage" className="text-slate-600">
        {t("usage", { used: gib(p.imageBytes), quota })}
      </span>
      <label className="flex items-center gap-1">
        <span>{t("quotaLabel")}</span>
        <input
          name="imageQuotaGb"
          type="number"
          min={0}
          step="any"
          defaultValue={p.imageQuotaBytes === null ? "" : +(p.imageQuotaBytes / GiB).toFixed(3)}
          className="w-24 rounded-md border border-slate-300 px-2 py-0.5"
        />
      </label>
      <button type="submit" disabled={pending} className="rounded border border-slate-300 px-2 py-0.5">
        {t("saveQuota")}
      </button>
    </form>
  );
}
