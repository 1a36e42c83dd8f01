"use client";
// A VM's snapshots and capture to image (issue 13): list, create (with memory when the VM runs),
// revert and delete with a confirmation, and "Create image" from a snapshot or from the stopped
// VM's disk. Calls the JSON API (/api/v1/vms/:id/snapshots, /capture); the server checks the role,
// the project and the VM's state again, and its messages (e.g. no room on the host) are shown as-is.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { StatusBadge } from "@/components/badges";
import { formatBytes, formatDate } from "@/lib/format";
import { listKeys } from "@/lib/queries/lists";
import { sendJson, snapshotKeys, snapshotsQuery } from "@/lib/queries/snapshots";
import { vmKeys, vmQuery } from "@/lib/queries/vms";
import type { StoredImageDto } from "@/lib/schemas/api";
import type { SnapshotDto } from "@/lib/schemas/snapshots";

const BUTTON =
  "rounded-md px-2.5 py-1 text-sm font-medium ring-1 ring-slate-300 hover:bg-slate-100 disabled:opacity-50";
const DANGER =
  "rounded-md px-2.5 py-1 text-sm font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50 disabled:opacity-50";
const INPUT = "rounded-md border border-slate-300 px-2 py-1 text-sm";

export function VmSnapshots({ vmId, canOperate }: { vmId: string; canOperate: boolean }) {
  const qc = useQueryClient();
  const vm = useQuery(vmQuery(vmId));
  const list = useQuery(snapshotsQuery(vmId));
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [memory, setMemory] = useState(false);
  /** which capture form is open: a snapshot id, "disk" for the stopped VM, or none */
  const [capturing, setCapturing] = useState<string | null>(null);
  const [captured, setCaptured] = useState<StoredImageDto | null>(null);
  const base = `/api/v1/vms/${encodeURIComponent(vmId)}`;

  const refresh = () =>
    Promise.all(
      [snapshotKeys.list(vmId), vmKeys.detail(vmId), vmKeys.tasks(vmId), vmKeys.events(vmId)].map((queryKey) =>
        qc.invalidateQueries({ queryKey }),
      ),
    );
  const mutation = <A,>(fn: (arg: A) => Promise<unknown>) => ({
    mutationFn: fn,
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
  });
  const create = useMutation(
    mutation(() =>
      sendJson<SnapshotDto>("POST", `${base}/snapshots`, { name: name.trim(), memory: running && memory }),
    ),
  );
  const revert = useMutation(
    mutation((s: SnapshotDto) => sendJson("POST", `${base}/snapshots/${encodeURIComponent(s.id)}/revert`)),
  );
  const remove = useMutation(
    mutation((s: SnapshotDto) => sendJson("DELETE", `${base}/snapshots/${encodeURIComponent(s.id)}`)),
  );
  const capture = useMutation({
    mutationFn: (body: { name: string; family?: string; snapshotId?: string }) =>
      sendJson<StoredImageDto>("POST", `${base}/capture`, body),
    onMutate: () => setError(null),
    onError: (e: Error) => setError(e.message),
    onSettled: refresh,
    onSuccess: async (image) => {
      setCaptured(image);
      setCapturing(null);
      await qc.invalidateQueries({ queryKey: listKeys.all("images") });
    },
  });

  const status = vm.data?.status;
  const running = status === "running";
  const settled = status === "running" || status === "stopped";
  const busy = create.isPending || revert.isPending || remove.isPending || capture.isPending;
  const items = list.data?.items ?? [];

  return (
    <section data-testid="vm-snapshots">
      <h2 className="mb-2 text-lg font-semibold">Snapshots</h2>
      {error && (
        <p role="alert" className="mb-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {error}
        </p>
      )}
      {captured && (
        <p role="status" className="mb-2 rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
          Image{" "}
          <a className="font-medium underline" href={`/images/${encodeURIComponent(captured.id)}`}>
            {captured.name}
          </a>{" "}
          ({captured.arch}, {formatBytes(captured.sizeBytes)}) is {captured.status}.
        </p>
      )}
      {canOperate && settled && (
        <form
          className="mb-3 flex flex-wrap items-center gap-2"
          aria-label="New snapshot"
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim()) create.mutate(undefined);
          }}
        >
          <input
            className={INPUT}
            aria-label="Snapshot name"
            placeholder="snapshot name"
            maxLength={64}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          {running && (
            <label className="flex items-center gap-1 text-sm">
              <input type="checkbox" checked={memory} onChange={(e) => setMemory(e.target.checked)} /> include memory
            </label>
          )}
          <button type="submit" className={BUTTON} disabled={busy || !name.trim()}>
            {create.isPending ? "Taking snapshot…" : "Take snapshot"}
          </button>
          {status === "stopped" && (
            <button type="button" className={BUTTON} disabled={busy} onClick={() => setCapturing("disk")}>
              Create image from disk
            </button>
          )}
        </form>
      )}
      {capturing === "disk" && (
        <CaptureForm busy={capture.isPending} onCancel={() => setCapturing(null)} onSubmit={(b) => capture.mutate(b)} />
      )}
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="text-left text-xs uppercase text-slate-500">
          <tr>
            <th className="px-3 py-2">Name</th>
            <th className="px-3 py-2">Memory</th>
            <th className="px-3 py-2">Created</th>
            <th className="px-3 py-2">Status</th>
            {canOperate && <th className="px-3 py-2" />}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {items.map((s) => (
            <tr key={s.id} data-testid="snapshot-row" data-name={s.name}>
              <td className="px-3 py-2 font-medium">
                {s.name}
                {s.lastError && <p className="text-xs text-red-700">{s.lastError}</p>}
                {capturing === s.id && (
                  <CaptureForm
                    busy={capture.isPending}
                    onCancel={() => setCapturing(null)}
                    onSubmit={(b) => capture.mutate({ ...b, snapshotId: s.id })}
                  />
                )}
              </td>
              <td className="px-3 py-2">{s.memory ? `yes (${formatBytes(s.vmStateBytes)})` : "disk only"}</td>
              <td className="px-3 py-2">{formatDate(s.createdAt)}</td>
              <td className="px-3 py-2">
                <StatusBadge status={s.status} />
              </td>
              {canOperate && (
                <td className="space-x-2 px-3 py-2 text-right whitespace-nowrap">
                  <button
                    type="button"
                    className={BUTTON}
                    disabled={busy || s.status !== "ready" || !settled}
                    onClick={() => {
                      const how = s.memory
                        ? "The guest resumes where it was when the snapshot was taken."
                        : running
                          ? "The VM is powered off, its disk reverted, and started again."
                          : "The VM's disk is reverted.";
                      if (confirm(`Revert ${vm.data?.name ?? "the VM"} to "${s.name}"? ${how} Later changes are lost.`))
                        revert.mutate(s);
                    }}
                  >
                    {revert.isPending && revert.variables?.id === s.id ? "Reverting…" : "Revert"}
                  </button>
                  <button
                    type="button"
                    className={BUTTON}
                    disabled={busy || s.status !== "ready"}
                    onClick={() => setCapturing(s.id)}
                  >
                    Create image
                  </button>
                  <button
                    type="button"
                    className={DANGER}
                    disabled={busy || !["ready", "error"].includes(s.status)}
                    onClick={() => {
                      if (confirm(`Delete snapshot "${s.name}"? This cannot be undone.`)) remove.mutate(s);
                    }}
                  >
                    {remove.isPending && remove.variables?.id === s.id ? "Deleting…" : "Delete"}
                  </button>
                </td>
              )}
            </tr>
          ))}
          {list.isSuccess && items.length === 0 && (
            <tr>
              <td colSpan={canOperate ? 5 : 4} className="px-3 py-3 text-slate-500">
                No snapshots yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function CaptureForm({
  busy,
  onSubmit,
  onCancel,
}: {
  busy: boolean;
  onSubmit: (body: { name: string; family?: string }) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState("");
  const [family, setFamily] = useState("");
  return (
    <form
      className="my-2 flex flex-wrap items-center gap-2"
      aria-label="Create image"
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim()) onSubmit({ name: name.trim(), ...(family.trim() ? { family: family.trim() } : {}) });
      }}
    >
      <input
        className={INPUT}
        aria-label="Image name"
        placeholder="image name"
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <input
        className={INPUT}
        aria-label="Image family (optional)"
        placeholder="family (optional)"
        value={family}
        onChange={(e) => setFamily(e.target.value)}
      />
      <button type="submit" className={BUTTON} disabled={busy || !name.trim()}>
        {busy ? "Creating image…" : "Create image"}
      </button>
      <button type="button" className={BUTTON} disabled={busy} onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}
