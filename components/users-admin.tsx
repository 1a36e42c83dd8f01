"use client";
import { ActionMessage, CreateFormCard, useActionRunner } from "@/components/admin-form";
import { ROLES, ROLE_DESCRIPTIONS, type Role } from "@/lib/permissions";
import { formatDate } from "@/lib/format";
import type { ActionResult } from "@/lib/action-result";
import type { UserDto as User } from "@/lib/schemas/users";
type Act<I> = (input: I) => Promise<ActionResult>;

export function UsersAdmin({
  users,
  currentUserId,
  actions,
}: {
  users: User[];
  currentUserId: string;
  actions: {
    create: Act<{ email: string; name: string; role: Role; password: string }>;
    setRole: Act<{ id: string; role: Role }>;
    disable: Act<{ id: string }>;
    enable: Act<{ id: string }>;
    resetPassword: Act<{ id: string; password: string }>;
    unlockSignIn: Act<{ id: string }>;
  };
}) {
  const { run, pending, message, fieldErrors } = useActionRunner();

  function onCreate(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const input = {
      email: String(f.get("email")),
      name: String(f.get("name")),
      role: String(f.get("role")) as Role,
      password: String(f.get("password")),
    };
    run(actions.create(input), `Created ${input.email}.`, () => form.reset());
  }

  return (
    <div className="space-y-8">
      <ActionMessage message={message} />
      <CreateFormCard
        title="Create a user"
        label="Create user"
        className="grid gap-3 sm:grid-cols-2 lg:grid-cols-5"
        onSubmit={onCreate}
        pending={pending}
      >
        <Field label="Email" name="email" type="email" error={fieldErrors.email} />
        <Field label="Name" name="name" error={fieldErrors.name} />
        <label className="text-sm">
          <span className="block font-medium">Role</span>
          <select
            name="role"
            defaultValue="operator"
            className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r} — {ROLE_DESCRIPTIONS[r]}
              </option>
            ))}
          </select>
        </label>
        <Field label="Initial password" name="password" type="password" error={fieldErrors.password} />
      </CreateFormCard>

      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50 text-left text-xs font-semibold uppercase text-slate-600">
            <tr>
              <th className="px-3 py-2">User</th>
              <th className="px-3 py-2">Role</th>
              <th className="px-3 py-2">State</th>
              <th className="px-3 py-2">Created</th>
              <th className="px-3 py-2">Actions</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {users.map((u) => (
              <tr key={u.id} data-testid={`user-${u.email}`}>
                <td className="px-3 py-2">
                  <div className="font-medium">{u.name}</div>
                  <div className="text-xs text-slate-500">{u.email}</div>
                </td>
                <td className="px-3 py-2">
                  <select
                    aria-label={`Role of ${u.email}`}
                    defaultValue={u.role}
                    disabled={pending}
                    onChange={(e) =>
                      run(
                        actions.setRole({ id: u.id, role: e.target.value as Role }),
                        `${u.email} is now ${e.target.value}.`,
                      )
                    }
                    className="rounded-md border border-slate-300 px-2 py-1"
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </td>
                <td className="px-3 py-2">{u.disabled ? <span className="text-red-700">disabled</span> : "active"}</td>
                <td className="px-3 py-2 text-xs">{formatDate(u.createdAt)}</td>
                <td className="px-3 py-2">
                  <div className="flex flex-wrap gap-2">
                    {u.id !== currentUserId &&
                      (u.disabled ? (
                        <button
                          type="button"
                          className="rounded border border-slate-300 px-2 py-1 text-xs"
                          onClick={() => run(actions.enable({ id: u.id }), `${u.email} enabled.`)}
                        >
                          Enable
                        </button>
                      ) : (
                        <button
                          type="button"
                          className="rounded border border-red-300 px-2 py-1 text-xs text-red-700"
                          onClick={() => {
                            if (confirm(`Disable ${u.email}? Their sessions end immediately.`))
                              run(actions.disable({ id: u.id }), `${u.email} disabled; their sessions have ended.`);
                          }}
                        >
                          Disable
                        </button>
                      ))}
                    <button
                      type="button"
                      className="rounded border border-slate-300 px-2 py-1 text-xs"
                      onClick={() => {
                        const pw = prompt(`New password for ${u.email} (at least 8 characters)`);
                        if (pw)
                          run(
                            actions.resetPassword({ id: u.id, password: pw }),
                            `Password of ${u.email} reset; their sessions have ended.`,
                          );
                      }}
                    >
                      Reset password
                    </button>
                    <button
                      type="button"
                      className="rounded border border-slate-300 px-2 py-1 text-xs"
                      title="Lift the lock after repeated failed sign-ins and forget those attempts"
                      onClick={() =>
                        run(
                          actions.unlockSignIn({ id: u.id }),
                          `${u.email} can sign in again; their failed attempts are forgotten.`,
                        )
                      }
                    >
                      Unlock sign-in
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Field({ label, name, type = "text", error }: { label: string; name: string; type?: string; error?: string }) {
  return (
    <label className="text-sm">
      <span className="block font-medium">{label}</span>
      <input
        name={name}
        type={type}
        aria-invalid={!!error}
        aria-describedby={error ? `${name}-err` : undefined}
        className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
      />
      {error && (
        <span id={`${name}-err`} className="mt-1 block text-xs text-red-700">
          {error}
        </span>
      )}
    </label>
  );
}
