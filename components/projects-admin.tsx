"use client";
// Projects page (admins): create, rename, delete (only when empty — the server refuses otherwise),
// add and remove members. Every change is a server action that checks project:manage and audits.
import { useState } from "react";
import type { ActionResult } from "@/lib/action-result";
import { ActionMessage, CreateFormCard, useActionRunner, type RunAction } from "@/components/admin-form";
import { formatDate } from "@/lib/format";
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

  function onCreate(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const input = { name: String(f.get("name") ?? "").trim(), description: String(f.get("description") ?? "") };
    run(actions.create(input), `Created project ${input.name}.`, () => form.reset());
  }

  return (
    <div className="space-y-8">
      <ActionMessage message={message} />

      <CreateFormCard
        title="Create a project"
        label="Create project"
        className="grid gap-3 sm:grid-cols-[1fr_2fr_auto]"
        onSubmit={onCreate}
        pending={pending}
      >
        <label className="text-sm">
          <span className="block font-medium">Name</span>
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
            Description <span className="text-xs font-normal text-slate-500">(optional)</span>
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
  const [editing, setEditing] = useState(false);
  const [userId, setUserId] = useState("");
  const memberIds = new Set(p.members.map((m) => m.id));
  const candidates = users.filter((u) => !memberIds.has(u.id));

  function onRename(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const name = String(f.get("name") ?? "").trim();
    run(
      actions.update({ id: p.id, name, description: String(f.get("description") ?? "") }),
      `Saved project ${name}.`,
      () => setEditing(false),
    );
  }

  return (
    <li data-testid={`project-${p.name}`} className="rounded-lg border border-slate-200 bg-white p-4">
      <div className="flex flex-wrap items-start justify-between gap-3">
        {editing ? (
          <form onSubmit={onRename} aria-label={`Edit project ${p.name}`} className="flex flex-wrap items-end gap-2">
            <label className="text-sm">
              <span className="block font-medium">Name</span>
              <input
                name="name"
                defaultValue={p.name}
                required
                maxLength={63}
                className="mt-1 rounded-md border border-slate-300 px-2 py-1"
              />
            </label>
            <label className="text-sm">
              <span className="block font-medium">Description</span>
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
                  title="New users join it; it cannot be deleted"
                >
                  default
                </span>
              )}
            </h2>
            {p.description && <p className="text-sm text-slate-600">{p.description}</p>}
            <p className="mt-1 text-xs text-slate-500">
              <span data-testid="vm-count">{p.vmCount}</span> VM{p.vmCount === 1 ? "" : "s"} · {p.memberCount} member
              {p.memberCount === 1 ? "" : "s"} · created {formatDate(p.createdAt)}
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
              Rename
            </button>
            {!p.isDefault && (
              <button
                type="button"
                disabled={pending}
                aria-label={`Delete project ${p.name}`}
                title={
                  p.vmCount > 0 ? `Has ${p.vmCount} VM(s): the server will refuse until they are deleted` : undefined
                }
                onClick={() => {
                  if (confirm(`Delete project ${p.name}?`))
                    run(actions.remove({ id: p.id }), `Deleted project ${p.name}.`);
                }}
                className="rounded border border-red-300 px-2 py-1 text-xs text-red-700 hover:bg-red-50 disabled:opacity-50"
              >
                Delete
              </button>
            )}
          </div>
        )}
      </div>

      <div className="mt-3">
        <h3 className="text-sm font-medium">Members</h3>
        {p.members.length === 0 ? (
          <p className="text-sm text-slate-500">No members: only admins see its VMs.</p>
        ) : (
          <ul className="mt-1 flex flex-wrap gap-2" aria-label={`Members of ${p.name}`}>
            {p.members.map((m) => (
              <li
                key={m.id}
                data-testid={`member-${m.email}`}
                className="flex max-w-full items-center gap-1 rounded-full bg-slate-100 py-0.5 pl-3 pr-1 text-sm [overflow-wrap:anywhere]"
              >
                {m.email} <span className="text-xs text-slate-600">({m.role})</span>
                <button
                  type="button"
                  disabled={pending}
                  aria-label={`Remove ${m.email} from ${p.name}`}
                  onClick={() =>
                    run(actions.removeMember({ id: p.id, userId: m.id }), `Removed ${m.email} from ${p.name}.`)
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
            aria-label={`Add member to ${p.name}`}
            onSubmit={(e) => {
              e.preventDefault();
              const u = users.find((x) => x.id === userId);
              if (u)
                run(actions.addMember({ id: p.id, userId }), `Added ${u.email} to ${p.name}.`, () => setUserId(""));
            }}
          >
            <select
              aria-label={`User to add to ${p.name}`}
              value={userId}
              onChange={(e) => setUserId(e.target.value)}
              className="rounded-md border border-slate-300 px-2 py-1 text-sm"
            >
              <option value="">Choose a user…</option>
              {candidates.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.email} ({u.role})
                </option>
              ))}
            </select>
            <button
              type="submit"
              disabled={pending || !userId}
              className="rounded-md px-3 py-1 text-sm ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50"
            >
              Add member
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
  const quota =
    p.imageQuotaBytes === null ? "the default quota" : p.imageQuotaBytes === 0 ? "no limit" : gib(p.imageQuotaBytes);
  function onSave(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const imageQuotaGb = String(new FormData(e.currentTarget).get("imageQuotaGb") ?? "").trim();
    run(actions.setQuota({ id: p.id, imageQuotaGb }), `Saved the image quota of ${p.name}.`);
  }
  return (
    <form
      onSubmit={onSave}
      aria-label={`Image quota of ${p.name}`}
      className="mt-2 flex flex-wrap items-center gap-2 text-xs"
    >
      <span data-testid="image-usage" className="text-slate-600">
        Images: {gib(p.imageBytes)} of {quota}
      </span>
      <label className="flex items-center gap-1">
        <span>Quota (GiB; empty = default, 0 = no limit)</span>
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
        Save quota
      </button>
    </form>
  );
}
