"use client";
// The VM-create wizard: architecture → image → size → network → review (vm-wizard-review.tsx, with a
// live placement preview, loaded when the wizard nears it) → submit (the createVmAction server action),
// then the task's steps live until the VM runs. Every shape here is a response schema of lib/schemas,
// the same the API documents.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import dynamic from "next/dynamic";
import { useRouter } from "next/navigation";
import { useTranslations } from "next-intl";
import { useEffect, useMemo, useRef, useState } from "react";
import { nameSuffix, suggestVmName } from "@/lib/vm-name-suggestion";
import { ArchBadge } from "@/components/badges";
import { useCreateChecks } from "@/components/use-create-checks";
import { EMPTY_LOGIN, loginRequest, type WizardLogin } from "./vm-wizard-login-request";

const NO_LOGIN_ERRORS = { hostname: null, password: null, sshKey: null };
import { ARCHES, ARCH_LABELS, type Arch } from "@/lib/arch-labels";
import { fetchJson } from "@/lib/queries/fetch-json";
import { projectsQuery } from "@/lib/queries/projects";
import { listKeys } from "@/lib/queries/lists";
import { useDisplayFormat } from "@/components/use-display-format";
import { displaysFor, type Display } from "@/lib/display-choices";
import { CUSTOM_SIZE, type WizardInstanceType } from "@/components/vm-wizard-size-choice";
import { unwrapAction, type ActionResult } from "@/lib/action-result";
import type { CreateVmResult, ImageDto } from "@/lib/schemas/api";
import type { NetworkDto } from "@/lib/schemas/networks";
import type { WizardSecurityGroup } from "@/components/vm-wizard-security-groups";
import type { CreateVmRequest } from "@/lib/schemas/vms";
import type { PlacementCapacity, PlacementExplanation } from "@/lib/scheduler/schema";

/** createVmAction (app/(console)/vms/actions.ts): the same createVm as POST /api/v1/vms. */
export type CreateVm = (input: CreateVmRequest) => Promise<ActionResult<CreateVmResult>>;

// The review step (name, options, placement preview) is loaded when the wizard gets near it, not with the page.
const loadReview = () => import("@/components/vm-wizard-review").then((m) => m.WizardReview);
const WizardReview = dynamic(loadReview, { loading: () => <ReviewLoading /> });
// Likewise the size step, the security groups and the progress after submit (first-load JS, issue 16): each is
// warmed one step ahead (the effect below), so it is there by the time the wizard shows it.
const loadSize = () => import("@/components/vm-wizard-size").then((m) => m.WizardSizeStep);
const WizardSizeStep = dynamic(loadSize);
const loadSecurityGroups = () => import("@/components/vm-wizard-security-groups").then((m) => m.WizardSecurityGroups);
const WizardSecurityGroups = dynamic(loadSecurityGroups);
const loadProgress = () => import("@/components/vm-wizard-create-progress").then((m) => m.CreateProgress);
const CreateProgress = dynamic(loadProgress);

function ReviewLoading() {
  const t = useTranslations("wizard");
  return <p className="text-sm text-slate-500">{t("loadingReview")}</p>;
}

// Message keys wizard.steps.<step>.
const STEPS = ["architecture", "image", "size", "network", "review"] as const;

/** canCustomSize: the role has vm:customSize (the server checks it again); else only instance types are offered. */
export function VmWizard({ create, canCustomSize = true }: { create: CreateVm; canCustomSize?: boolean }) {
  const router = useRouter();
  const qc = useQueryClient();
  const t = useTranslations("wizard");
  const fmt = useDisplayFormat();
  const [step, setStep] = useState(0);
  const [arch, setArch] = useState<Arch | null>(null);
  const [imageId, setImageId] = useState<string | null>(null);
  const [size, setSize] = useState({ vcpus: 1, memoryMb: 512, diskGb: 2 });
  // An instance type's id or CUSTOM_SIZE; "" = not chosen yet (see `sizeChoice` below).
  const [sizePick, setSizePick] = useState("");
  const [networkId, setNetworkId] = useState<string>("");
  const [groupIds, setGroupIds] = useState<string[]>([]);
  const [name, setName] = useState("");
  // Suggested from the image and arch (issue 17); replaced on the next image choice until the user edits it.
  const [nameSuffixValue] = useState(nameSuffix);
  const suggestedName = useRef("");
  const [allowEmulation, setAllowEmulation] = useState(false);
  const [ha, setHa] = useState(false);
  const [cpuModel, setCpuModel] = useState("");
  const [userData, setUserData] = useState("");
  const [login, setLogin] = useState<WizardLogin>(EMPTY_LOGIN);
  const [projectId, setProjectId] = useState("");
  // "" = the default for the arch and image (lib/display.ts); only aarch64 has a real choice.
  const [display, setDisplay] = useState<Display | "">("");
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ vmId: string; host: string } | null>(null);

  const capacity = useQuery({
    queryKey: ["placement", "capacity"],
    queryFn: () => fetchJson<PlacementCapacity>("/api/v1/placement/capacity"),
    refetchInterval: 10_000,
  });
  const images = useQuery({
    queryKey: ["images", "list", { arch, status: "ready", wizard: true }],
    queryFn: () => fetchJson<{ items: ImageDto[] }>(`/api/v1/images?arch=${arch}&status=ready&pageSize=200`),
    enabled: arch !== null,
  });
  const networks = useQuery({
    queryKey: ["networks", "wizard"],
    queryFn: () => fetchJson<{ items: NetworkDto[] }>("/api/v1/networks?pageSize=200").catch(() => ({ items: [] })),
  });
  const securityGroups = useQuery({
    queryKey: ["security-groups", "wizard"],
    queryFn: () =>
      fetchJson<{ items: WizardSecurityGroup[] }>("/api/v1/security-groups?pageSize=200").catch(() => ({ items: [] })),
  });
  const image = images.data?.items.find((i) => i.id === imageId) ?? null;
  // The instance types a VM of this arch may use (ADR 050); fetched, not validated here (first-load JS, ADR 047).
  const instanceTypes = useQuery({
    queryKey: ["instance-types", { arch }],
    queryFn: () => fetchJson<{ items: WizardInstanceType[] }>(`/api/v1/instance-types?arch=${arch}`),
    enabled: arch !== null,
  });
  const types = instanceTypes.data?.items;
  // A pick that no longer fits (another arch was chosen) falls back: custom size if allowed, else the first type.
  const sizeChoice =
    (sizePick === CUSTOM_SIZE && canCustomSize) || types?.some((it) => it.id === sizePick)
      ? sizePick
      : canCustomSize
        ? CUSTOM_SIZE
        : (types?.[0]?.id ?? "");
  const instanceType = types?.find((it) => it.id === sizeChoice) ?? null;
  const chosenSize = useMemo(
    () =>
      instanceType ? { vcpus: instanceType.vcpus, memoryMb: instanceType.memoryMb, diskGb: instanceType.diskGb } : size,
    [instanceType, size],
  );
  // The VM's project: one the user is a member of (admins: any); preselected: the default project, else the first.
  const projects = useQuery(projectsQuery());
  const project =
    projects.data?.items.find((p) => p.id === projectId) ??
    projects.data?.items.find((p) => p.isDefault) ??
    projects.data?.items[0] ??
    null;
  const cap = arch ? capacity.data?.[arch] : undefined;
  // A VM attaches only to its project's networks or shared ones (lib/server/networks/tenancy.ts):
  // offer those, and drop a choice that a later project change made impossible.
  const attachable = (networks.data?.items ?? []).filter((n) => n.projectId === null || n.projectId === project?.id);
  const chosenNetworkId = attachable.some((n) => n.id === networkId) ? networkId : "";
  // Security groups filter the VM's port: its project's groups only, and only with a network.
  const projectGroups = (securityGroups.data?.items ?? []).filter((g) => g.projectId === project?.id);
  const chosenGroups = chosenNetworkId ? projectGroups.filter((g) => groupIds.includes(g.id)) : [];

  const sizeErrors = useMemo(() => {
    const e: Record<string, string> = {};
    if (sizeChoice === "") return { vcpus: t("errors.chooseType") };
    const minMem = image?.minMemoryMb ?? 64;
    const minDisk = image?.minDiskGb ?? 1;
    if (!Number.isInteger(chosenSize.vcpus) || chosenSize.vcpus < 1) e.vcpus = t("errors.minVcpu");
    else if (cap && cap.nativeHosts > 0 && !allowEmulation && chosenSize.vcpus > cap.largestVcpuFree)
      e.vcpus = t("errors.largestVcpu", { arch: String(arch), n: cap.largestVcpuFree });
    if (!Number.isInteger(chosenSize.memoryMb) || chosenSize.memoryMb < minMem)
      e.memoryMb = t("errors.minMemory", { n: minMem });
    else if (cap && cap.nativeHosts > 0 && !allowEmulation && chosenSize.memoryMb > cap.largestMemoryFreeMb)
      e.memoryMb = t("errors.largestMemory", { arch: String(arch), memory: fmt.mib(cap.largestMemoryFreeMb) });
    if (!Number.isInteger(chosenSize.diskGb) || chosenSize.diskGb < minDisk)
      e.diskGb = t("errors.minDisk", { n: minDisk });
    return e;
  }, [chosenSize, sizeChoice, image, cap, arch, allowEmulation, t, fmt]);

  const previewBody = arch
    ? { arch, vcpus: chosenSize.vcpus, memoryMb: chosenSize.memoryMb, diskGb: chosenSize.diskGb, allowEmulation }
    : null;
  const preview = useQuery({
    queryKey: ["placement", "preview", previewBody],
    queryFn: () =>
      fetchJson<PlacementExplanation>("/api/v1/placement/preview", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(previewBody),
      }),
    enabled: step === 4 && previewBody !== null && Object.keys(sizeErrors).length === 0,
    refetchInterval: 5_000,
  });

  // The server's own name and CPU-model rules (lib/schemas), so the wizard and the server say the same thing;
  // loaded from the network step on, not with the page (first-load JS, issue 16). Create waits for them.
  const { checks, loadError } = useCreateChecks(step >= 3);
  useEffect(() => {
    const warm = (load: () => Promise<unknown>) => void load().catch(() => undefined);
    if (step >= 1) warm(loadSize); // while the image is chosen
    if (step >= 2) warm(loadSecurityGroups); // while the size is chosen
    if (step >= 3) warm(loadReview); // while the network is chosen
    if (step >= 4) warm(loadProgress); // while the review is read
  }, [step]);
  const nameError = checks?.nameError(name) ?? null;
  const loginErrors = checks?.loginErrors(login, !!userData.trim()) ?? NO_LOGIN_ERRORS;
  const loginInvalid = Object.values(loginErrors).some(Boolean);
  const cpuModelError = checks?.cpuModelError(cpuModel) ?? null;
  const canNext = [arch !== null, image !== null, Object.keys(sizeErrors).length === 0, true, true][step];

  const createVm = useMutation({
    mutationFn: async (input: CreateVmRequest) => unwrapAction(await create(input)),
    onMutate: () => setSubmitError(null),
    onSuccess: (res) => {
      setCreated({ vmId: res.vm.id, host: res.host.name });
      // The new VM shows in the lists and takes capacity.
      void qc.invalidateQueries({ queryKey: listKeys.all("vms") });
      void qc.invalidateQueries({ queryKey: ["placement"] });
    },
    onError: (e) => setSubmitError(e.message || t("errors.createFailed")),
  });

  function submit() {
    if (!arch || !imageId) return;
    createVm.mutate({
      name,
      arch,
      imageId,
      ...(instanceType ? { instanceType: instanceType.id } : size),
      networkId: chosenNetworkId || null,
      ...(chosenGroups.length ? { securityGroupIds: chosenGroups.map((g) => g.id) } : {}),
      projectId: project?.id ?? null,
      allowEmulation,
      ha,
      ...(cpuModel.trim() ? { cpuModel: cpuModel.trim() } : {}),
      ...(display && displaysFor(arch).includes(display) ? { display } : {}),
      userData: userData.trim() ? userData : null,
      ...loginRequest(login),
    });
  }

  if (created)
    return (
      <CreateProgress vmId={created.vmId} host={created.host} onDone={() => router.push(`/vms/${created.vmId}`)} />
    );

  return (
    <div className="max-w-4xl space-y-6">
      <ol className="flex flex-wrap gap-2 text-sm" aria-label={t("stepsLabel")}>
        {STEPS.map((s, i) => (
          <li
            key={s}
            aria-current={i === step ? "step" : undefined}
            className={
              "rounded-full px-3 py-1 " +
              (i === step
                ? "bg-indigo-600 text-white"
                : i < step
                  ? "bg-indigo-100 text-indigo-800"
                  : "bg-slate-100 text-slate-600")
            }
          >
            {i + 1}. {t(`steps.${s}`)}
          </li>
        ))}
      </ol>

      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (step < 4 && canNext) setStep(step + 1);
        }}
        className="space-y-6"
      >
        {step === 0 && (
          <fieldset>
            <legend className="mb-3 text-lg font-semibold">{t("whichArch")}</legend>
            <div className="grid gap-3 sm:grid-cols-2">
              {ARCHES.map((a) => {
                const c = capacity.data?.[a];
                return (
                  <label
                    key={a}
                    className={`cursor-pointer rounded-lg border p-4 ${arch === a ? "border-indigo-600 ring-2 ring-indigo-600" : "border-slate-200 bg-white"}`}
                  >
                    <input
                      type="radio"
                      name="arch"
                      value={a}
                      checked={arch === a}
                      onChange={() => {
                        setArch(a);
                        setImageId(null);
                      }}
                      className="sr-only"
                    />
                    <span className="flex items-center justify-between font-medium">
                      {a === "aarch64" ? t("aarch64Label") : ARCH_LABELS[a]} <ArchBadge arch={a} />
                    </span>
                    <span className="mt-2 block text-sm text-slate-600" data-testid={`capacity-${a}`}>
                      {c
                        ? c.nativeHosts + c.emulatedHosts === 0
                          ? t("noHostCanRun")
                          : t(c.emulatedHosts ? "archCapacityEmulated" : "archCapacity", {
                              native: c.nativeHosts,
                              emulated: c.emulatedHosts,
                              vcpus: c.vcpuFree,
                              memory: fmt.mib(c.memoryFreeMb),
                            })
                        : "…"}
                    </span>
                  </label>
                );
              })}
            </div>
          </fieldset>
        )}

        {step === 1 && arch && (
          <fieldset>
            <legend className="mb-3 text-lg font-semibold">{t("imageFor", { arch })}</legend>
            {images.isPending && <p className="text-sm text-slate-500">{t("loadingImages")}</p>}
            {images.data?.items.length === 0 && (
              <p className="rounded-md bg-amber-50 p-3 text-sm text-amber-900">{t("noImages", { arch })}</p>
            )}
            <div className="grid gap-2" data-testid="image-options">
              {images.data?.items.map((i) => (
                <label
                  key={i.id}
                  className={
                    "flex cursor-pointer items-center justify-between rounded-lg border p-3 " +
                    (imageId === i.id ? "border-indigo-600 ring-2 ring-indigo-600" : "border-slate-200 bg-white")
                  }
                >
                  <span className="flex items-center gap-3">
                    <input
                      type="radio"
                      name="image"
                      value={i.id}
                      checked={imageId === i.id}
                      onChange={() => {
                        setImageId(i.id);
                        const suggestion = suggestVmName(i.family ?? i.name, i.arch, nameSuffixValue);
                        if (name === "" || name === suggestedName.current) setName(suggestion);
                        suggestedName.current = suggestion;
                        setSize((s) => ({
                          ...s,
                          memoryMb: Math.max(s.memoryMb, i.minMemoryMb),
                          diskGb: Math.max(s.diskGb, i.minDiskGb),
                        }));
                      }}
                    />
                    <span>
                      <span className="font-medium">{i.name}</span>
                      {i.family && (
                        <span className="ml-2 text-xs text-slate-500">{t("family", { family: i.family })}</span>
                      )}
                    </span>
                  </span>
                  <span className="flex items-center gap-2 text-xs text-slate-600">
                    <ArchBadge arch={i.arch} /> {i.format === "iso" ? t("isoInstall") : i.format} ·{" "}
                    {i.firmware.toUpperCase()} · {fmt.bytes(i.sizeBytes)}
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
        )}

        {step === 2 && (
          <WizardSizeStep
            arch={arch}
            types={types}
            typesError={instanceTypes.error ? instanceTypes.error.message : null}
            choice={sizeChoice}
            onChoice={setSizePick}
            canCustomSize={canCustomSize}
            size={size}
            onSize={setSize}
            errors={sizeErrors}
            minimum={{ memoryMb: image?.minMemoryMb ?? 0, diskGb: image?.minDiskGb ?? 0 }}
            largest={
              cap && cap.nativeHosts > 0 ? { vcpus: cap.largestVcpuFree, memoryMb: cap.largestMemoryFreeMb } : null
            }
          />
        )}

        {step === 3 && (
          <fieldset>
            <legend className="mb-3 text-lg font-semibold">{t("network")}</legend>
            <div className="grid gap-2">
              <label className="flex items-center gap-3 rounded-lg border border-slate-200 bg-white p-3">
                <input
                  type="radio"
                  name="network"
                  value=""
                  checked={chosenNetworkId === ""}
                  onChange={() => setNetworkId("")}
                />{" "}
                {t("noNetwork")}
              </label>
              {attachable.map((n) => (
                <label key={n.id} className="flex items-center gap-3 rounded-lg border border-slate-200 bg-white p-3">
                  <input
                    type="radio"
                    name="network"
                    value={n.id}
                    checked={chosenNetworkId === n.id}
                    onChange={() => setNetworkId(n.id)}
                  />
                  {t("networkOption", {
                    name: n.name,
                    vlan: n.vlanId,
                    cidr: n.cidr,
                    free: n.freeAddresses,
                    project: n.projectName ?? t("shared"),
                  })}
                </label>
              ))}
            </div>
            {chosenNetworkId && (
              <WizardSecurityGroups
                groups={projectGroups}
                chosen={chosenGroups.map((g) => g.id)}
                onChange={setGroupIds}
              />
            )}
          </fieldset>
        )}

        {step === 4 && (
          <WizardReview
            arch={arch}
            image={image}
            size={chosenSize}
            instanceTypeName={instanceType?.name ?? null}
            name={name}
            onName={setName}
            nameError={nameError}
            login={login}
            onLogin={setLogin}
            loginErrors={loginErrors}
            projects={projects.data?.items}
            project={project}
            onProject={setProjectId}
            display={display}
            onDisplay={setDisplay}
            allowEmulation={allowEmulation}
            onAllowEmulation={setAllowEmulation}
            ha={ha}
            onHa={setHa}
            cpuModel={cpuModel}
            onCpuModel={setCpuModel}
            cpuModelError={cpuModelError}
            userData={userData}
            onUserData={setUserData}
            networkName={chosenNetworkId ? (attachable.find((n) => n.id === chosenNetworkId)?.name ?? null) : null}
            securityGroupNames={chosenGroups.map((g) => g.name)}
            preview={preview}
            error={submitError ?? loadError}
          />
        )}

        <div className="flex gap-3">
          {step > 0 && (
            <button
              type="button"
              onClick={() => setStep(step - 1)}
              className="rounded-md px-4 py-2 text-sm ring-1 ring-slate-300"
            >
              {t("back")}
            </button>
          )}
          {step < 4 && (
            <button
              type="submit"
              disabled={!canNext}
              className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-50"
            >
              {t("next")}
            </button>
          )}
          {step === 4 && (
            <button
              type="button"
              onClick={submit}
              disabled={
                !checks ||
                !name ||
                !!nameError ||
                loginInvalid ||
                !!cpuModelError ||
                !preview.data?.ok ||
                createVm.isPending
              }
              className="rounded-md bg-indigo-600 px-4 py-2 text-sm font-medium text-white disabled:opacity-50"
            >
              {t("create")}
            </button>
          )}
        </div>
      </form>
    </div>
  );
}
