"use client";
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ArchBadge, StatusBadge } from "@/components/badges";
import { formatBytes, formatMb, timeAgo } from "@/lib/format";
import { evictImageRequest, imageHostsQuery, imageKeys, imageQuery, patchImage } from "@/lib/queries/images";
import type { ImageHostDto } from "@/lib/schemas/host-images";
import { IMAGE_VISIBILITIES, type ImageVisibility } from "@/lib/schemas/images";

const VISIBILITY_HELP: Record<ImageVisibility, string> = {
  private: "only you (the owner) and admins",
  project: "members of the image's project",
  public: "everyone signed in",
};

/** Owner or admin only (the page decides; PATCH checks again on the server). */
function VisibilityControl({ id, current, admin }: { id: string; current: ImageVisibility; admin: boolean }) {
  const qc = useQueryClient();
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
      aria-label="Change visibility"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
    >
      <select
        aria-label="Visibility"
        value={value}
        onChange={(e) => setValue(e.target.value as ImageVisibility)}
        className="rounded border border-slate-300 px-1.5 py-0.5 text-sm"
      >
        {/* Publishing to everyone is an admin's call (the server refuses it for others too). */}
        {IMAGE_VISIBILITIES.filter((v) => admin || v !== "public" || current === "public").map((v) => (
          <option key={v} value={v}>
            {v} — {VISIBILITY_HELP[v]}
          </option>
        ))}
      </select>
      <button
        type="submit"
        disabled={save.isPending || value === current}
        className="rounded px-2 py-0.5 text-xs font-medium text-indigo-700 ring-1 ring-indigo-300 disabled:opacity-50"
      >
        {save.isPending ? "Saving…" : "Save"}
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

  if (image.isPending) return <p className="text-sm text-slate-500">Loading…</p>;
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
            ← Images
          </Link>
        </p>
        <h1 className="mt-1 flex items-center gap-3 text-2xl font-semibold tracking-tight" data-testid="image-title">
          {i.name}{" "}
          {i.arch === "unknown" ? (
            <span className="text-xs text-slate-500">detecting…</span>
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
        <Item label="Family">{i.family ? <span className="font-mono text-xs">{i.family}</span> : "—"}</Item>
        <Item label="Format">{i.format}</Item>
        <Item label="Firmware">{i.firmware.toUpperCase()}</Item>
        <Item label="Size">
          {formatBytes(i.sizeBytes)}
          {i.virtualSize > 0 && i.virtualSize !== i.sizeBytes ? ` (virtual ${formatBytes(i.virtualSize)})` : ""}
        </Item>
        <Item label="Minimum">
          {i.minDiskGb} GiB disk, {formatMb(i.minMemoryMb)} memory
        </Item>
        <Item label="Visibility">
          {canChange ? (
            <VisibilityControl key={i.visibility} id={id} current={i.visibility} admin={isAdmin} />
          ) : (
            <span data-testid="image-visibility">{i.visibility}</span>
          )}
        </Item>
        <Item label="VMs">{i.vmCount ?? 0}</Item>
        <Item label="Created">{new Date(i.createdAt).toLocaleString()}</Item>
        <Item label="sha256">
          <span className="break-all font-mono text-xs">{i.sha256 ?? "—"}</span>
        </Item>
        {i.cmdline && (
          <Item label="Kernel command line">
            <span className="break-all font-mono text-xs">{i.cmdline}</span>
          </Item>
        )}
      </dl>

      <section aria-labelledby="cached-on-hosts">
        <h2 id="cached-on-hosts" className="mb-1 text-lg font-semibold">
          Cached on hosts ({hosts.data?.items.length ?? 0})
        </h2>
        <p className="mb-2 text-sm text-slate-600">
          Hosts download an image the first time a VM there needs it. An unused copy can be evicted to free disk space;
          it is downloaded again when needed.
        </p>
        {hosts.isError && (
          <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
            {hosts.error.message}
          </p>
        )}
        <div className="relative overflow-x-auto rounded-lg border border-slate-200 bg-white">
          <table className="min-w-full text-sm" data-testid="image-hosts">
            <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="px-3 py-2">Host</th>
                <th className="px-3 py-2">Architecture</th>
                <th className="px-3 py-2">State</th>
                <th className="px-3 py-2">Size</th>
                <th className="px-3 py-2">In use</th>
                <th className="px-3 py-2">Updated</th>
                {canManage && (
                  <th className="px-3 py-2">
                    <span className="sr-only">Actions</span>
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
                    No host has this image cached.
                  </td>
                </tr>
              )}
              {hosts.isPending && (
                <tr>
                  <td colSpan={canManage ? 7 : 6} className="px-3 py-4 text-slate-500">
                    Loading…
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
      <td className="px-3 py-2">{formatBytes(row.sizeBytes)}</td>
      <td className="px-3 py-2">
        {row.inUse ? (
          <span title={`Used by ${usedBy}`}>
            yes:{" "}
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
          <span className="text-slate-500">no</span>
        )}
      </td>
      <td className="px-3 py-2 text-slate-600">{timeAgo(row.updatedAt)}</td>
      {canManage && (
        <td className="px-3 py-2">
          <button
            type="button"
            disabled={row.inUse || evict.isPending}
            title={
              row.inUse ? `In use by ${usedBy}: delete those VMs first` : `Remove the cached copy from ${row.hostName}`
            }
            onClick={() => {
              if (
                confirm(
                  `Evict ${imageName} from host ${row.hostName}? The cached copy is deleted there; a VM that needs it later downloads it again.`,
                )
              )
                evict.mutate();
            }}
            className="rounded px-2 py-0.5 text-xs font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:cursor-not-allowed disabled:opacity-50"
          >
            {evict.isPending ? "Evicting…" : "Evict"}
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
