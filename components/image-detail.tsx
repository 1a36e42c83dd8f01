"use client";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { useDisplayFormat } from "@/components/use-display-format";
import { evictImageRequest, imageHostsQuery, imageKeys, imageQuery, patchImage } from "@/lib/queries/images";
import type { ImageHostDto } from "@/lib/schemas/host-images";
import { IMAGE_VISIBILITIES, type ImageVisibility } from "@/lib/schemas/images";

/** Owner or admin only (the page decides; PATCH checks again on the server). */
function VisibilityControl({ id, current, admin }: { id: string; current: ImageVisibility; admin: boolean }) {
  const qc = useQueryClient();
  const t = useTranslations("imageDetail");
  const [value, setValue] = useState<ImageVisibility>(current);
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: () => patchImage(id, { visibility: value }),
    onMutate: () => setError(null),
    onError: (e) => setError(e.message),
    onSettled: () => qc.invalidateQueries({ queryKey: imageKeys.detail(id) }),
  });
  return (
    <form
      className="flex flex-wrap items-center gap-2"
      aria-label={t("changeVisibility")}
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <select
        aria-label={t("visibility")}
        value={value}
        onChange={(e) => setValue(e.target.value as ImageVisibility)}
        className="rounded border border-slate-300 px-1.5 py-0.5 text-sm"
      >
        {/* Publishing to everyone is an admin's call (the server refuses it for others too). */}
        {IMAGE_VISIBILITIES.filter((v) => admin || v !== "public" || current === "public").map((v) => (
          <option key={v} value={v}>
            {t(`visibilities.${v}`)} — {t(`visibilityHelp.${v}`)}
          </option>
        ))}
      </select>
      <button
        type="submit"
        disabled={save.isPending || value === current}
        className="rounded px-2 py-0.5 text-xs font-medium text-indigo-700 ring-1 ring-indigo-300 disabled:opacity-50"
      >
        {save.isPending ? t("saving") : t("save")}
      </button>
      {error && (
        <p role="alert" className="w-full text-xs text-red-700">
          {error}
        </p>
      )}
    </form>
  );
}

export function ImageDetailView({
  id,
  canManage,
  canChange = false,
  isAdmin = false,
}: {
  id: string;
  canManage: boolean;
  /** the owner or an admin: may change the visibility (PATCH checks again) */
  canChange?: boolean;
  isAdmin?: boolean;
}) {
  const image = useQuery(imageQuery(id));
  const hosts = useQuery(imageHostsQuery(id));
  const t = useTranslations("imageDetail");
  const fmt = useDisplayFormat();

  if (image.isPending) return <p className="text-sm text-slate-500">{t("loading")}</p>;
  if (image.isError)
    return (
      <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
        {image.error.message}
      </p>
    );
  const i = image.data;

  return (
    <div className="space-y-6">
      <div>
        <p className="text-sm">
          <Link href="/images" className="text-indigo-700 hover:underline">
            {t("back")}
          </Link>
        </p>
        <h1 className="mt-1 flex items-center gap-3 text-2xl font-semibold tracking-tight" data-testid="image-title">
          {i.name}{" "}
          {i.arch === "unknown" ? (
            <span className="text-xs text-slate-500">{t("detecting")}</span>
          ) : (
            <ArchBadge arch={i.arch} />
          )}{" "}
          <StatusBadge status={i.status} />
        </h1>
        {i.error && (
          <p role="alert" className="mt-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
            {i.error}
          </p>
        )}
      </div>

      <dl className="grid gap-4 rounded-lg border border-slate-200 bg-white p-4 text-sm sm:grid-cols-3">
        <Item label={t("family")}>{i.family ? <span className="font-mono text-xs">{i.family}</span> : "—"}</Item>
        <Item label={t("format")}>{i.format}</Item>
        <Item label={t("firmware")}>{i.firmware.toUpperCase()}</Item>
        <Item label={t("size")}>
          {fmt.bytes(i.sizeBytes)}
          {i.virtualSize > 0 && i.virtualSize !== i.sizeBytes ? t("virtual", { size: fmt.bytes(i.virtualSize) }) : ""}
        </Item>
        <Item label={t("minimum")}>{t("minimumValue", { disk: i.minDiskGb, memory: fmt.mib(i.minMemoryMb) })}</Item>
        <Item label={t("visibility")}>
          {canChange ? (
            <VisibilityControl key={i.visibility} id={id} current={i.visibility} admin={isAdmin} />
          ) : (
            <span data-testid="image-visibility">{t(`visibilities.${i.visibility}`)}</span>
          )}
        </Item>
        <Item label={t("vms")}>{i.vmCount ?? 0}</Item>
        <Item label={t("created")}>{fmt.dateTime(i.createdAt)}</Item>
        <Item label="sha256">
          <span className="break-all font-mono text-xs">{i.sha256 ?? "—"}</span>
        </Item>
        {i.cmdline && (
          <Item label={t("cmdline")}>
            <span className="break-all font-mono text-xs">{i.cmdline}</span>
          </Item>
        )}
      </dl>

      <section aria-labelledby="cached-on-hosts">
        <h2 id="cached-on-hosts" className="mb-1 text-lg font-semibold">
          {t("cachedOn", { n: hosts.data?.items.length ?? 0 })}
        </h2>
        <p className="mb-2 text-sm text-slate-600">{t("cachedHint")}</p>
        {hosts.isError && (
          <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
            {hosts.error.message}
          </p>
        )}
        <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <table className="min-w-full text-sm" data-testid="image-hosts">
            <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="px-3 py-2">{t("host")}</th>
                <th className="px-3 py-2">{t("architecture")}</th>
                <th className="px-3 py-2">{t("state")}</th>
                <th className="px-3 py-2">{t("size")}</th>
                <th className="px-3 py-2">{t("inUse")}</th>
                <th className="px-3 py-2">{t("updated")}</th>
                {canManage && (
                  <th className="px-3 py-2">
                    <span className="sr-only">{t("actions")}</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {hosts.data?.items.map((h) => (
                <HostRow key={h.hostId} imageId={id} imageName={i.name} row={h} canManage={canManage} />
              ))}
              {hosts.data?.items.length === 0 && (
                <tr>
                  <td colSpan={canManage ? 7 : 6} className="px-3 py-4 text-slate-500">
                    {t("notCached")}
                  </td>
                </tr>
              )}
              {hosts.isPending && (
                <tr>
                  <td colSpan={canManage ? 7 : 6} className="px-3 py-4 text-slate-500">
                    {t("loading")}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}

function HostRow({
  imageId,
  imageName,
  row,
  canManage,
}: {
  imageId: string;
  imageName: string;
  row: ImageHostDto;
  canManage: boolean;
}) {
  const qc = useQueryClient();
  const t = useTranslations("imageDetail");
  const fmt = useDisplayFormat();
  const [error, setError] = useState<string | null>(null);
  const evict = useMutation({
    mutationFn: () => evictImageRequest(imageId, row.hostId),
    onMutate: () => setError(null),
    onError: (e) => setError(e.message),
    onSettled: () => qc.invalidateQueries({ queryKey: imageKeys.hosts(imageId) }),
  });
  const usedBy = row.usedBy.map((v) => v.name).join(", ");
  return (
    <tr data-testid="image-host-row">
      <td className="px-3 py-2">
        <Link href={`/hosts/${row.hostId}`} className="font-medium text-indigo-700 hover:underline">
          {row.hostName}
        </Link>
        {row.hostStatus !== "online" && (
          <span className="ml-2">
            <StatusBadge status={row.hostStatus} />
          </span>
        )}
      </td>
      <td className="px-3 py-2">
        <ArchBadge arch={row.arch} />
      </td>
      <td className="px-3 py-2">
        <StatusBadge status={row.state} />
      </td>
      <td className="px-3 py-2">{fmt.bytes(row.sizeBytes)}</td>
      <td className="px-3 py-2">
        {row.inUse ? (
          <span title={t("usedBy", { vms: usedBy })}>
            {t("yes")}{" "}
            {row.usedBy.map((v, n) => (
              <span key={v.id}>
                {n > 0 && ", "}
                <Link href={`/vms/${v.id}`} className="text-indigo-700 hover:underline">
                  {v.name}
                </Link>
              </span>
            ))}
          </span>
        ) : (
          <span className="text-slate-500">{t("no")}</span>
        )}
      </td>
      <td className="px-3 py-2 text-slate-600">{fmt.since(row.updatedAt)}</td>
      {canManage && (
        <td className="px-3 py-2">
          <button
            type="button"
            disabled={row.inUse || evict.isPending}
            title={row.inUse ? t("inUseTitle", { vms: usedBy }) : t("evictTitle", { host: row.hostName })}
            onClick={() => {
              if (confirm(t("confirmEvict", { image: imageName, host: row.hostName }))) evict.mutate();
            }}
            className="rounded px-2 py-0.5 text-xs font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:cursor-not-allowed disabled:opacity-50"
          >
            {evict.isPending ? t("evicting") : t("evict")}
          </button>
          {error && (
            <p role="alert" className="mt-1 max-w-xs text-xs text-red-700">
              {error}
            </p>
          )}
        </td>
      )}
    </tr>
  );
}

function Item({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs font-medium uppercase text-slate-500">{label}</dt>
      <dd className="mt-1">{children}</dd>
    </div>
  );
}
