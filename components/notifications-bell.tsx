"use client";
// The failed-task bell in the console header: the count of failed tasks this user has not seen,
// a dropdown with the newest (links to the VM and to the task log) and "Mark all read". Polls.
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useEffect, useRef, useState } from "react";
import { markNotificationsRead, notificationKeys, notificationsQuery } from "@/lib/queries/notifications";
import { useDisplayFormat } from "@/components/use-display-format";

// The bell outline (24×24, stroked).
const BELL_PATH =
  "M14.857 17.082a23.848 23.848 0 0 0 5.454-1.31A8.967 8.967 0 0 1 18 9.75V9A6 6 0 0 0 6 9v.75a8.967 8.967 0 0 1-2.312 6.022" +
  "c1.733.64 3.56 1.085 5.455 1.31m5.714 0a24.255 24.255 0 0 1-5.714 0m5.714 0a3 3 0 1 1-5.714 0";

export function NotificationsBell() {
  const queryClient = useQueryClient();
  const t = useTranslations("notifications");
  const fmt = useDisplayFormat();
  const { data, error } = useQuery(notificationsQuery);
  const [open, setOpen] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const markRead = useMutation({
    // Up to the newest failure shown: one that fails while the dropdown is open stays unread.
    mutationFn: () => markNotificationsRead(data?.items[0]?.finishedAt ?? null),
    onSuccess: (next) => queryClient.setQueryData(notificationKeys.all, next),
  });

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (root.current && !root.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  const unread = data?.unread ?? 0;
  const label = unread === 0 ? t("labelNone") : t("labelUnread", { n: unread });
  return (
    <div className="relative" ref={root}>
      <button
        type="button"
        aria-label={label}
        title={label}
        aria-haspopup="true"
        aria-expanded={open}
        aria-controls="notifications-panel"
        onClick={() => setOpen((o) => !o)}
        className="relative rounded-full p-2 text-slate-600 hover:bg-slate-200 hover:text-slate-900"
        data-testid="notifications-bell"
      >
        <svg
          aria-hidden="true"
          viewBox="0 0 24 24"
          className="h-5 w-5"
          fill="none"
          stroke="currentColor"
          strokeWidth={1.8}
        >
          <path strokeLinecap="round" strokeLinejoin="round" d={BELL_PATH} />
        </svg>
        {unread > 0 && (
          <span
            data-testid="notifications-count"
            className="absolute -right-0.5 -top-0.5 min-w-5 rounded-full bg-red-600 px-1 text-center text-xs font-semibold leading-5 text-white"
          >
            {unread > 99 ? "99+" : unread}
          </span>
        )}
      </button>
      {open && (
        <div
          id="notifications-panel"
          role="region"
          aria-label={t("panel")}
          className="absolute right-0 z-20 mt-2 w-96 max-w-[calc(100vw-2rem)] rounded-lg border border-slate-200 bg-white shadow-lg"
        >
          <div className="flex items-center justify-between border-b border-slate-100 px-3 py-2">
            <h2 className="text-sm font-semibold">
              {t("failedTasks")}{" "}
              {unread > 0 && <span className="font-normal text-slate-500">{t("unread", { n: unread })}</span>}
            </h2>
            <button
              type="button"
              disabled={unread === 0 || markRead.isPending}
              onClick={() => markRead.mutate()}
              className="text-xs font-medium text-indigo-700 hover:underline disabled:text-slate-400 disabled:no-underline"
            >
              {t("markAllRead")}
            </button>
          </div>
          {error && (
            <p role="alert" className="px-3 py-2 text-xs text-red-700">
              {error.message}
            </p>
          )}
          {markRead.error && (
            <p role="alert" className="px-3 py-2 text-xs text-red-700">
              {markRead.error.message}
            </p>
          )}
          <ul className="max-h-96 divide-y divide-slate-100 overflow-y-auto" data-testid="notifications-list">
            {data?.items.map((task) => (
              <li key={task.id} className="px-3 py-2 text-sm" data-testid="notification">
                <div className="flex items-center gap-2">
                  <code className="text-xs">{task.kind}</code>
                  {task.vm ? (
                    <Link
                      href={`/vms/${task.vm.id}`}
                      onClick={() => setOpen(false)}
                      className="font-medium text-indigo-700 hover:underline"
                    >
                      {task.vm.name}
                    </Link>
                  ) : (
                    <span className="text-slate-500">{t("deletedVm")}</span>
                  )}
                  <span className="ml-auto text-xs text-slate-500" title={task.finishedAt ?? undefined}>
                    {fmt.since(task.finishedAt)}
                  </span>
                </div>
                {task.error && <p className="mt-0.5 line-clamp-2 text-xs text-red-700">{task.error}</p>}
                <p className="mt-0.5 text-xs text-slate-500">
                  {task.host ? t("onHost", { host: task.host.name }) : ""}
                  {task.user ? ` · ${t("byUser", { email: task.user.email })}` : ""}
                </p>
              </li>
            ))}
            {data && data.items.length === 0 && <li className="px-3 py-4 text-sm text-slate-500">{t("none")}</li>}
          </ul>
          <div className="border-t border-slate-100 px-3 py-2 text-right">
            <Link
              href="/events?status=failed"
              onClick={() => setOpen(false)}
              className="text-xs text-indigo-700 hover:underline"
            >
              {t("all")}
            </Link>
          </div>
        </div>
      )}
    </div>
  );
}
