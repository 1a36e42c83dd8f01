"use client";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useState } from "react";
import { DataTable, type Column } from "@/components/data-table";
import { ArchBadge, StatusBadge, useStatusLabel } from "@/components/badges";
import { IMAGE_STATUSES } from "@/lib/schemas/statuses";
import { useDisplayFormat } from "@/components/use-display-format";
import { listKeys } from "@/lib/queries/lists";
import { deleteImageRequest, imageFamiliesQuery, patchImage } from "@/lib/queries/images";
import type { ImageFamilyDto } from "@/lib/schemas/images";
import type { ImageDto } from "@/lib/schemas/api";

/** A row as GET /api/v1/images answers it (lib/schemas/api.ts imageDtoSchema). */
export type ImageRow = ImageDto;

/** The family name with every arch build of it; this row's own build is outlined. */
function FamilyCell({ image, families }: { image: ImageRow; families: ImageFamilyDto[] | undefined }) {
  const status = useStatusLabel();
  if (!image.family) return <span className="text-slate-500">—</span>;
  const builds = families?.find((f) => f.family === image.family)?.builds ?? [];
  return (
    <span className="inline-flex flex-wrap items-center gap-1.5" data-testid="family-builds">
      <span className="font-mono text-xs">{image.family}</span>
      {builds.map((b) => (
        <span
          key={b.imageId}
          title={`${b.name}: ${status(b.status)}`}
          className={`rounded ${b.imageId === image.id ? "ring-2 ring-indigo-300" : ""}`}
        >
          <ArchBadge arch={b.arch} />
          {b.status !== "ready" && <span className="ml-0.5 text-xs text-amber-700">({status(b.status)})</span>}
        </span>
      ))}
    </span>
  );
}

function ImageActions({ image }: { image: ImageRow }) {
  const qc = useQueryClient();
  const t = useTranslations("images");
  const status = useStatusLabel();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(image.name);
  const [family, setFamily] = useState(image.family ?? "");
  const [error, setError] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: listKeys.all("images") });
  const save = useMutation({
    mutationFn: () => patchImage(image.id, { name: name.trim(), family: family.trim() ? family.trim() : null }),
    onMutate: () => setError(null),
    onSuccess: () => setEditing(false),
    onError: (e) => setError(e.message),
    onSettled: refresh,
  });
  const del = useMutation({
    mutationFn: () => deleteImageRequest(image.id),
    onMutate: () => setError(null),
    onError: (e) => setError(e.message),
    onSettled: refresh,
  });
  const busy = save.isPending || del.isPending;
  if (image.status === "uploading" || image.status === "validating")
    return <span className="text-xs text-slate-500">{status(image.status)}…</span>;

  return (
    <div className="space-y-1">
      {editing ? (
        <form
          className="flex flex-wrap items-center gap-1"
          aria-label={t("editLabel", { name: image.name })}
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <input
            aria-label={t("newName")}
            value={name}
            maxLength={100}
            onChange={(e) => setName(e.target.value)}
            className="w-36 rounded border border-slate-300 px-1.5 py-0.5 text-xs"
          />
          <input
            aria-label={t("family")}
            value={family}
            maxLength={63}
            placeholder={t("familyPlaceholder")}
            onChange={(e) => setFamily(e.target.value)}
            className="w-28 rounded border border-slate-300 px-1.5 py-0.5 text-xs"
          />
          <button
            type="submit"
            disabled={busy || !name.trim()}
            className="rounded px-2 py-0.5 text-xs font-medium text-indigo-700 ring-1 ring-indigo-300 disabled:opacity-50"
          >
            {t("save")}
          </button>
          <button
            type="button"
            onClick={() => {
              setEditing(false);
              setName(image.name);
              setFamily(image.family ?? "");
            }}
            className="rounded px-2 py-0.5 text-xs ring-1 ring-slate-300"
          >
            {t("cancel")}
          </button>
        </form>
      ) : (
        <div className="flex gap-1">
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              setName(image.name);
              setFamily(image.family ?? "");
              setEditing(true);
            }}
            className="rounded px-2 py-0.5 text-xs font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50"
          >
            {t("rename")}
          </button>
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              if (confirm(t("confirmDelete", { name: image.name }))) del.mutate();
            }}
            className="rounded px-2 py-0.5 text-xs font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:opacity-50"
          >
            {del.isPending ? t("deleting") : t("delete")}
          </button>
        </div>
      )}
      {error && (
        <p role="alert" className="max-w-xs text-xs text-red-700">
          {error}
        </p>
      )}
    </div>
  );
}

/** Who is looking: only an image's owner or an admin may rename or delete it (the server checks too). */
export type ImagesViewer = { id: string; admin: boolean };

export function ImagesTable({ canManage = false, viewer }: { canManage?: boolean; viewer?: ImagesViewer }) {
  const families = useQuery(imageFamiliesQuery);
  const t = useTranslations("images");
  const fmt = useDisplayFormat();
  const mayChange = (i: ImageRow) => canManage && !!viewer && (viewer.admin || i.ownerId === viewer.id);
  const columns: Column<ImageRow>[] = [
    {
      key: "name",
      label: t("name"),
      sortable: true,
      render: (i) => (
        <Link href={`/images/${i.id}`} className="font-medium text-indigo-700 hover:underline" data-testid="image-name">
          {i.name}
        </Link>
      ),
    },
    { key: "family", label: t("familyBuilds"), render: (i) => <FamilyCell image={i} families={families.data} /> },
    {
      key: "arch",
      label: t("architecture"),
      sortable: true,
      render: (i) =>
        (i.arch as string) === "unknown" ? (
          <span className="text-xs text-slate-500">{t("detecting")}</span>
        ) : (
          <ArchBadge arch={i.arch} />
        ),
    },
    { key: "status", label: t("status"), sortable: true, render: (i) => <StatusBadge status={i.status} /> },
    { key: "format", label: t("format"), sortable: true, render: (i) => i.format },
    {
      key: "visibility",
      label: t("visibility"),
      render: (i) => (
        <span className="text-xs" data-testid="image-visibility">
          {t.has(`visibilities.${i.visibility}`) ? t(`visibilities.${i.visibility}`) : i.visibility}
        </span>
      ),
    },
    { key: "firmware", label: t("firmware"), render: (i) => i.firmware.toUpperCase() },
    { key: "sizeBytes", label: t("size"), sortable: true, render: (i) => fmt.bytes(i.sizeBytes) },
    { key: "vms", label: t("vms"), render: (i) => i.vmCount ?? 0 },
    ...(canManage
      ? [
          {
            key: "actions",
            label: t("actions"),
            render: (i: ImageRow) =>
              mayChange(i) ? <ImageActions image={i} /> : <span className="text-xs text-slate-500">—</span>,
          },
        ]
      : []),
  ];
  return (
    <DataTable<ImageRow>
      kind="images"
      columns={columns}
      statuses={IMAGE_STATUSES}
      defaultSort="name"
      rowKey={(i) => i.id}
      empty={<p>{t("empty")}</p>}
    />
  );
}
