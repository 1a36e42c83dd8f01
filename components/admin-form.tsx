"use client";
// What the admin pages (users, projects, networks) share around their server actions: run one in a
// transition, show its outcome in a banner, keep the server's per-field errors, then refresh; and
// the "Create a …" card.
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import type { ActionResult } from "@/lib/action-result";

export type ActionMessageValue = { kind: "ok" | "error"; text: string };
export type RunAction = (p: Promise<ActionResult>, ok: string, onOk?: () => void) => void;

/**
 * `run(action, okText, onOk)` awaits the action in a transition: on success it shows `okText`,
 * clears the field errors and calls `onOk`; on failure it shows the error and the field errors.
 * Afterwards it calls `settled` when given (success or not), else refreshes the route on success.
 */
export function useActionRunner(options: { settled?: () => Promise<unknown> } = {}) {
  const router = useRouter();
  const [message, setMessage] = useState<ActionMessageValue | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [pending, start] = useTransition();
  const { settled } = options;

  const run: RunAction = (p, ok, onOk) => {
    start(async () => {
      const r = await p;
      if (r.ok) {
        setMessage({ kind: "ok", text: ok });
        setFieldErrors({});
        onOk?.();
      } else {
        setMessage({ kind: "error", text: r.error });
        setFieldErrors(r.fieldErrors ?? {});
      }
      if (settled) await settled();
      else if (r.ok) router.refresh();
    });
  };
  return { run, pending, message, setMessage, fieldErrors, setFieldErrors };
}

/** The outcome banner: role="alert" for errors, role="status" for success. */
export function ActionMessage({ message }: { message: ActionMessageValue | null }) {
  if (!message) return null;
  return (
    <p
      role={message.kind === "error" ? "alert" : "status"}
      className={`rounded-md px-3 py-2 text-sm ${message.kind === "error" ? "bg-red-50 text-red-700" : "bg-green-50 text-green-800"}`}
    >
      {message.text}
    </p>
  );
}

/** The "Create a …" card: a titled form whose submit button (labelled like the form) ends its grid. */
export function CreateFormCard({
  title,
  label,
  className,
  onSubmit,
  pending,
  children,
}: {
  title: string;
  label: string;
  className: string;
  onSubmit: (e: React.FormEvent<HTMLFormElement>) => void;
  pending: boolean;
  children: React.ReactNode;
}) {
  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4">
      <h2 className="mb-3 font-semibold">{title}</h2>
      <form onSubmit={onSubmit} aria-label={label} className={className}>
        {children}
        <div className="flex items-end">
          <button
            type="submit"
            disabled={pending}
            className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700 disabled:opacity-60"
          >
            {label}
          </button>
        </div>
      </form>
    </section>
  );
}
