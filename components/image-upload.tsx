"use client";
// "Upload image" panel: disk images (qcow2/raw/iso) or kernel-boot images (kernel + initrd +
// cmdline), with a real progress bar (XHR upload events) and Cancel. The server validates and
// detects the architecture; its message is shown as is.
import { useQueryClient } from "@tanstack/react-query";
import { useTranslations } from "next-intl";
import { useRef, useState } from "react";
import { listKeys } from "@/lib/queries/lists";
import { startImageUpload, type UploadedImage, type UploadHandle } from "@/lib/queries/images";
import { useDisplayFormat } from "@/components/use-display-format";
import { useStatusLabel } from "@/components/badges";
import { MAX_IMAGE_BYTES, MAX_INITRD_BYTES, MAX_KERNEL_BYTES } from "@/lib/schemas/images";

type Format = "qcow2" | "raw" | "iso" | "kernel";
type Phase =
  | { kind: "idle" }
  | { kind: "uploading"; sent: number; total: number }
  | { kind: "validating"; total: number }
  | { kind: "done"; image: UploadedImage; total: number }
  | { kind: "failed"; message: string; sent: number; total: number };

// Labels are message keys imageUpload.formats.<format>.
const FORMATS: Format[] = ["qcow2", "raw", "iso", "kernel"];

const input = "mt-1 w-full rounded-md border border-slate-300 bg-white px-2 py-1.5 text-sm";
const labelText = "block text-xs font-medium text-slate-600";

/**
 * `projects`: where the caller may put an image (their projects; every project for admins).
 * Operators choose project or private visibility; only admins publish to everyone (ADR 027).
 */
export function ImageUpload({
  projects = [],
  admin = false,
}: { projects?: { id: string; name: string }[]; admin?: boolean } = {}) {
  const qc = useQueryClient();
  const t = useTranslations("imageUpload");
  const fmt = useDisplayFormat();
  const statusName = useStatusLabel();
  const [format, setFormat] = useState<Format>("qcow2");
  const [name, setName] = useState("");
  const [family, setFamily] = useState("");
  const [arch, setArch] = useState("");
  const [visibility, setVisibility] = useState("project");
  const [projectId, setProjectId] = useState(projects[0]?.id ?? "");
  const [cmdline, setCmdline] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [kernel, setKernel] = useState<File | null>(null);
  const [initrd, setInitrd] = useState<File | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const handle = useRef<UploadHandle | null>(null);
  const formRef = useRef<HTMLFormElement>(null);

  const busy = phase.kind === "uploading" || phase.kind === "validating";
  const isKernel = format === "kernel";
  const ready = name.trim() !== "" && (isKernel ? kernel !== null : file !== null);

  function pickName(f: File | null) {
    if (f && !name.trim()) setName(f.name.replace(/\.(qcow2|img|raw|iso)$/i, ""));
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (!ready || busy) return;
    // Checked here too: browsers only read the server's 413 after sending the whole body.
    const over = isKernel
      ? kernel!.size > MAX_KERNEL_BYTES
        ? t("kernelTooLarge", { size: fmt.bytes(MAX_KERNEL_BYTES) })
        : initrd && initrd.size > MAX_INITRD_BYTES
          ? t("initrdTooLarge", { size: fmt.bytes(MAX_INITRD_BYTES) })
          : null
      : file!.size > MAX_IMAGE_BYTES
        ? t("imageTooLarge", { size: fmt.bytes(MAX_IMAGE_BYTES) })
        : null;
    if (over) return setPhase({ kind: "failed", message: over, sent: 0, total: 0 });
    const form = new FormData();
    // Text fields first: the server creates the image row before the first file byte.
    form.append("name", name.trim());
    form.append("format", format);
    if (arch) form.append("arch", arch);
    if (family.trim()) form.append("family", family.trim());
    form.append("visibility", visibility);
    if (projectId) form.append("projectId", projectId);
    if (isKernel && cmdline.trim()) form.append("cmdline", cmdline.trim());
    if (isKernel) {
      form.append("kernel", kernel!);
      if (initrd) form.append("initrd", initrd);
    } else form.append("file", file!);

    let total = isKernel ? (kernel?.size ?? 0) + (initrd?.size ?? 0) : (file?.size ?? 0);
    let sent = 0;
    setPhase({ kind: "uploading", sent: 0, total });
    handle.current = startImageUpload(form, (s, size) => {
      sent = s;
      total = size;
      setPhase(s >= size ? { kind: "validating", total: size } : { kind: "uploading", sent: s, total: size });
    });
    // The row appears (status uploading) as soon as the server sees the first file part.
    setTimeout(() => void qc.invalidateQueries({ queryKey: listKeys.all("images") }), 500);
    try {
      const image = await handle.current.done;
      setPhase({ kind: "done", image, total });
      formRef.current?.reset();
      setName("");
      setFamily("");
      setCmdline("");
      setFile(null);
      setKernel(null);
      setInitrd(null);
    } catch (err) {
      setPhase({ kind: "failed", message: (err as Error).message, sent, total });
    } finally {
      handle.current = null;
      await qc.invalidateQueries({ queryKey: listKeys.all("images") });
    }
  }

  const percent =
    phase.kind === "uploading"
      ? Math.floor((phase.sent / Math.max(1, phase.total)) * 100)
      : phase.kind === "validating" || phase.kind === "done"
        ? 100
        : phase.kind === "failed"
          ? Math.floor((phase.sent / Math.max(1, phase.total)) * 100)
          : 0;

  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4" aria-labelledby="upload-heading">
      <h2 id="upload-heading" className="text-sm font-semibold text-slate-800">
        {t("title")}
      </h2>
      <p className="mt-1 text-xs text-slate-500">{t("intro")}</p>
      <form
        ref={formRef}
        aria-label={t("title")}
        onSubmit={submit}
        className="mt-3 grid gap-3 sm:grid-cols-2 lg:grid-cols-3"
      >
        <label className="text-sm">
          <span className={labelText}>{t("format")}</span>
          <select
            name="format"
            value={format}
            disabled={busy}
            onChange={(e) => setFormat(e.target.value as Format)}
            className={input}
          >
            {FORMATS.map((f) => (
              <option key={f} value={f}>
                {t(`formats.${f}`)}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className={labelText}>{t("name")}</span>
          <input
            name="name"
            value={name}
            disabled={busy}
            maxLength={100}
            onChange={(e) => setName(e.target.value)}
            className={input}
            placeholder="debian-12 arm64"
          />
        </label>
        <label className="text-sm">
          <span className={labelText}>{t("family")}</span>
          <input
            name="family"
            value={family}
            disabled={busy}
            maxLength={63}
            onChange={(e) => setFamily(e.target.value)}
            className={input}
            placeholder="debian-12"
          />
        </label>
        <label className="text-sm">
          <span className={labelText}>{t("architecture")}</span>
          <select name="arch" value={arch} disabled={busy} onChange={(e) => setArch(e.target.value)} className={input}>
            <option value="">{t("detect")}</option>
            <option value="x86_64">x86_64</option>
            <option value="aarch64">{t("aarch64")}</option>
          </select>
        </label>
        <label className="text-sm">
          <span className={labelText}>{t("visibility")}</span>
          <select
            name="visibility"
            value={visibility}
            disabled={busy}
            onChange={(e) => setVisibility(e.target.value)}
            className={input}
          >
            <option value="project">{t("visProject")}</option>
            <option value="private">{t("visPrivate")}</option>
            {admin && <option value="public">{t("visPublic")}</option>}
          </select>
          {!admin && <span className="mt-0.5 block text-xs text-slate-500">{t("onlyAdmins")}</span>}
        </label>
        {projects.length > 0 && (
          <label className="text-sm">
            <span className={labelText}>{t("project")}</span>
            <select
              name="projectId"
              value={projectId}
              disabled={busy}
              onChange={(e) => setProjectId(e.target.value)}
              className={input}
            >
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {isKernel ? (
          <>
            <label className="text-sm">
              <span className={labelText}>{t("kernel")}</span>
              <input
                type="file"
                name="kernel"
                disabled={busy}
                onChange={(e) => {
                  const f = e.target.files?.[0] ?? null;
                  setKernel(f);
                  pickName(f);
                }}
                className={input}
              />
            </label>
            <label className="text-sm">
              <span className={labelText}>{t("initrd")}</span>
              <input
                type="file"
                name="initrd"
                disabled={busy}
                onChange={(e) => setInitrd(e.target.files?.[0] ?? null)}
                className={input}
              />
            </label>
            <label className="text-sm sm:col-span-2">
              <span className={labelText}>{t("cmdline")}</span>
              <input
                name="cmdline"
                value={cmdline}
                disabled={busy}
                maxLength={1024}
                onChange={(e) => setCmdline(e.target.value)}
                className={`${input} font-mono`}
                placeholder={t("cmdlinePlaceholder")}
              />
            </label>
          </>
        ) : (
          <label className="text-sm">
            <span className={labelText}>{t("file")}</span>
            <input
              type="file"
              name="file"
              disabled={busy}
              accept={format === "iso" ? ".iso" : ".qcow2,.img,.raw"}
              onChange={(e) => {
                const f = e.target.files?.[0] ?? null;
                setFile(f);
                pickName(f);
              }}
              className={input}
            />
          </label>
        )}
        <div className="flex items-end gap-2 sm:col-span-2 lg:col-span-3">
          <button
            type="submit"
            disabled={!ready || busy}
            className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white hover:bg-indigo-700 disabled:opacity-50"
          >
            {busy ? t("uploading") : t("upload")}
          </button>
          {busy && (
            <button
              type="button"
              onClick={() => handle.current?.abort()}
              className="rounded-md px-3 py-2 text-sm font-medium text-red-700 ring-1 ring-red-300 hover:bg-red-50"
            >
              {t("cancel")}
            </button>
          )}
        </div>
      </form>

      {phase.kind !== "idle" && (
        <div className="mt-3 space-y-2" data-testid="upload-progress">
          <div
            role="progressbar"
            aria-label={t("progress")}
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={percent}
            className="h-2 w-full overflow-hidden rounded-full bg-slate-200"
          >
            <div
              className={`h-full transition-[width] ${phase.kind === "failed" ? "bg-red-500" : "bg-indigo-600"}`}
              style={{ width: `${percent}%` }}
            />
          </div>
          <p className="text-xs text-slate-600" aria-live="polite">
            {phase.kind === "uploading" &&
              t("progressUploading", { percent, sent: fmt.bytes(phase.sent), total: fmt.bytes(phase.total) })}
            {phase.kind === "validating" && t("progressValidating", { total: fmt.bytes(phase.total) })}
            {phase.kind === "done" && `100% · ${fmt.bytes(phase.total)}`}
            {phase.kind === "failed" && t("stoppedAt", { percent })}
          </p>
        </div>
      )}
      {phase.kind === "done" && (
        <p role="status" className="mt-2 rounded-md bg-green-50 px-3 py-2 text-sm text-green-800">
          {t(phase.image.detectedArch ? "doneDetected" : "doneDeclared", {
            name: phase.image.name,
            status: statusName(phase.image.status),
            arch: phase.image.arch,
            firmware: phase.image.firmware.toUpperCase(),
          })}
          {phase.image.warnings.length > 0 && (
            <span className="block text-xs text-amber-800">{phase.image.warnings.join(" ")}</span>
          )}
        </p>
      )}
      {phase.kind === "failed" && (
        <p role="alert" className="mt-2 rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {phase.message}
        </p>
      )}
    </section>
  );
}
