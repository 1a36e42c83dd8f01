"use client";
import { useTranslations } from "next-intl";
import { ActionMessage, CreateFormCard, useActionRunner } from "@/components/admin-form";
import { ROLES, type Role } from "@/lib/permissions";
import { useDisplayFormat } from "@/components/use-display-format";
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
  const t = useTranslations("users");
  const fmt = useDisplayFormat();

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
    run(actions.create(input), t("created", { email: input.email }), () => form.reset());
  }

  return (
    <div className="space-y-8">
      <ActionMessage message={message} />
      <CreateFormCard
        title={t("createTitle")}
        label={t("createLabel")}
        className="grid gap-3 sm:grid-cols-2 lg:grid-cols-5"
        onSubmit={onCreate}
        pending={pending}
      >
        <Field label={t("email")} name="email" type="email" error={fieldErrors.email} />
        <Field label={t("name")} name="name" error={fieldErrors.name} />
        <label className="text-sm">
          <span className="block font-medium">{t("role")}</span>
          <select
            name="role"
            defaultValue="operator"
            className="mt-1 w-full rounded-md border border-slate-300 px-2 py-1.5"
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {t(`roles.${r}`)} — {t(`roleDescriptions.${r}`)}
              </option>
            ))}
          </select>
        </label>
        <Field label={t("initialPassword")} name="password" type="password" error={fieldErrors.password} />
      </CreateFormCard>

      <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
        <table className="min-w-full divide-y divide-slate-200 text-sm">
          <thead className="bg-slate-50 text-left text-xs font-semibold uppercase text-slate-600">
            <tr>
              <th className="px-3 py-2">{t("user")}</th>
              <th className="px-3 py-2">{t("role")}</th>
              <th className="px-3 py-2">{t("state")}</th>
              <th className="px-3 py-2">{t("createdCol")}</th>
              <th className="px-3 py-2">{t("actions")}</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {users.map((u) => (
              <tr key={u.id} data-testid={`user-${u.email}`}>
                <td className="px-3 py-2">
                  <div className="font-medium" translate="no">
                    {u.name}
                  </div>
                  <div className="text-xs text-slate-500">{u.email}</div>
                </td>
                <td className="px-3 py-2">
                  <select
                    aria-label={t("roleOf", { email: u.email })}
                    defaultValue={u.role}
                    disabled={pending}
                    onChange={(e) =>
                      run(
                        actions.setRole({ id: u.id, role: e.target.value as Role }),
                        t("roleSet", { email: u.email, role: t(`roles.${e.target.value}`) }),
                      )
                    }
                    className="rounded-md border border-slate-300 px-2 py-1"
                  >
                    {ROLES.map((r) => (
                      <option key={r} value={r}>
                        {t(`roles.${r}`)}
                      </option>
                    ))}
                  </select>
                </td>
                <td className="px-3 py-2">
                  {u.disabled ? <span className="text-red-700">{t("disabled")}</span> : t("active")}
                </td>
                <td className="px-3 py-2 text-xs">{fmt.when(u.createdAt)}</td>
                <td className="px-3 py-2">
                  <div className="flex flex-wrap gap-2">
                    {u.id !== currentUserId &&
                      (u.disabled ? (
                        <button
                          type="button"
                          className="rounded border border-slate-300 px-2 py-1 text-xs"
                          onClick={() => run(actions.enable({ id: u.id }), t("enabled", { email: u.email }))}
                        >
                          {t("enable")}
                        </button>
                      ) : (
                        <button
                          type="button"
                          className="rounded border border-red-300 px-2 py-1 text-xs text-red-700"
                          onClick={() => {
                            if (confirm(t("confirmDisable", { email: u.email })))
                              run(actions.disable({ id: u.id }), t("disabledDone", { email: u.email }));
                          }}
                        >
                          {t("disable")}
                        </button>
                      ))}
                    <button
                      type="button"
                      className="rounded border border-slate-300 px-2 py-1 text-xs"
                      onClick={() => {
                        const pw = prompt(t("promptPassword", { email: u.email }));
                        if (pw)
                          run(
                            actions.resetPassword({ id: u.id, password: pw }),
                            t("passwordReset", { email: u.email }),
                          );
                      }}
                    >
                      {t("resetPassword")}
                    </button>
                    <button
                      type="button"
                      className="rounded border border-slate-300 px-2 py-1 text-xs"
                      title={t("unlockTitle")}
                      onClick={() => run(actions.unlockSignIn({ id: u.id }), t("unlocked", { email: u.email }))}
                    >
                      {t("unlock")}
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
