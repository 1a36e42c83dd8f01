// Agent API v1 contract, shared by the agent (agent/) and the controller's agent client
// (lib/server/hosts/agent-client.ts). Pure zod: no Node or server-only imports.
import { z } from "zod";
import { archSchema, ARCHES } from "../arch";
import { displaySchema } from "../display";
import { portFirewallSchema } from "./security-groups";

/** ids and names that end up in file paths, tap names and QEMU argv: no `/`, no `..`. */
export const safeIdSchema = z
  .string()
  .min(1, "id is required")
  .max(64, "id is at most 64 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, "id may contain only letters, digits, '-' and '_' (no '/', no '..')");

export const vmNameSchema = z
  .string()
  .trim()
  .min(1, "name is required")
  .max(63, "name is at most 63 characters")
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9.-]*$/,
    "name may contain letters, digits, '.' and '-', and must start with a letter or digit",
  )
  .refine((v) => !v.includes(".."), "name may not contain '..'");

export const macSchema = z
  .string()
  .regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, "MAC must look like 52:54:00:12:34:56 (lower case)");

export const nicSpecSchema = z.object({
  id: safeIdSchema,
  mac: macSchema,
  /** 0 = untagged; 1..4094 = VLAN tag on the OVS port */
  vlan: z.number().int().min(0).max(4094),
  ip: z.string().optional(),
  prefixLength: z.number().int().min(0).max(32).optional(),
  gateway: z.string().optional(),
  /**
   * The port's security-group firewall (ADR 052): installed when the port is plugged, so a VM that is
   * created, moved or restarted elsewhere is never unfiltered; null = none (unfiltered); absent = keep
   * what the port has recorded (specs from before security groups).
   */
  firewall: portFirewallSchema.nullable().optional(),
});

export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lower-case hex digits");

/** Where the agent gets the boot media. Paths are relative to the agent's image cache. */
export const bootSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("disk"),
    /** image id; the agent downloads it from the controller (or finds it cached) */
    imageId: safeIdSchema,
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    format: z.enum(["qcow2", "raw"]),
    firmware: z.enum(["bios", "uefi"]),
  }),
  z.object({
    type: z.literal("kernel"),
    imageId: safeIdSchema,
    kernelSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    initrdSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    cmdline: z.string().max(4096).default(""),
  }),
  /**
   * Install from an ISO (issue 13): a blank qcow2 disk of diskGb, the ISO in the VM's CD drive
   * (spec.cdrom, set by the controller at create) and the boot order CD first, then the disk —
   * once the medium is ejected the firmware falls through to the installed disk.
   */
  z.object({
    type: z.literal("iso"),
    imageId: safeIdSchema,
    sha256: sha256Schema.optional(),
    firmware: z.enum(["bios", "uefi"]),
  }),
]);

/** The medium in the VM's CD drive (an ISO image of the controller, cached like boot media). */
export const cdromSpecSchema = z.object({ imageId: safeIdSchema, sha256: sha256Schema.optional() });

/** A data volume attached to the VM (its file lives on the agent: PUT /v1/volumes/:id). Order = guest order (vdb, vdc, ...). */
export const vmVolumeRefSchema = z.object({ id: safeIdSchema });
export const MAX_VM_VOLUMES = 8;
/**
 * The virtio-blk serial a volume gets in its VM (at most 20 bytes): the guest finds it as
 * /dev/disk/by-id/virtio-<serial> (and /sys/block/vdX/serial) — the id's first 20 characters.
 */
export function volumeSerial(volumeId: string): string {
  return volumeId.slice(0, 20);
}

/** A versioned QEMU machine type (pc-q35-7.2, virt-7.2) or an alias (q35, virt). */
export const machineTypeSchema = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9._-]*$/, "a machine type is lower-case letters, digits, '.', '_' and '-'");
/** A QEMU CPU model name (host, max, cortex-a57, Haswell-noTSX, EPYC-Rome). */
export const cpuModelSchema = z
  .string()
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "a CPU model is letters, digits, '.', '_' and '-'");

export const vmSpecSchema = z.object({
  name: vmNameSchema,
  arch: archSchema,
  vcpus: z.number().int().min(1, "at least 1 vCPU").max(512),
  memoryMb: z
    .number()
    .int()
    .min(64, "at least 64 MiB")
    .max(4 * 1024 * 1024),
  diskGb: z.number().int().min(1).max(65536),
  boot: bootSchema,
  nics: z.array(nicSpecSchema).max(8).default([]),
  /** desired power state */
  powerState: z.enum(["running", "stopped"]).default("running"),
  /** allow TCG when the host cannot run the arch natively */
  allowEmulation: z.boolean().default(true),
  /** cloud-init NoCloud data (issue 6) */
  cloudInit: z
    .object({
      hostname: z.string().max(63),
      sshKeys: z.array(z.string().max(16384)).max(32),
      userData: z.string().max(65536).optional(),
    })
    .optional(),
  /** graphical display (ADR 013); absent = the arch's default: x86_64 vga, aarch64 none */
  display: displaySchema.optional(),
  /**
   * Medium in the CD drive; null/absent = empty drive. Every VM has one CD drive (x86_64: AHCI
   * ide-cd; aarch64: scsi-cd on virtio-scsi), so media can be inserted and ejected while running.
   */
  cdrom: cdromSpecSchema.nullable().optional(),
  /** attached data volumes; hot-plugged / unplugged on a running VM (PCIe root ports are reserved at start) */
  volumes: z
    .array(vmVolumeRefSchema)
    .max(MAX_VM_VOLUMES, `at most ${MAX_VM_VOLUMES} volumes per VM`)
    .refine((v) => new Set(v.map((x) => x.id)).size === v.length, "a volume may be attached only once")
    .default([]),
  /** QEMU machine type pinned by the controller at create (ADR 035); absent = the arch's alias (q35 / virt) */
  machineType: machineTypeSchema.optional(),
  /** guest CPU model pinned at create; absent = the agent's default for the accelerator (kvm: host; tcg: max / cortex-a57) */
  cpuModel: cpuModelSchema.optional(),
  /** the controller's generation of this VM, bumped on every move; a heartbeat's `evict` names older copies */
  generation: z.number().int().min(1).max(1_000_000_000).default(1),
  /** an HA VM: the host's fence watchdog kills it when the agent's lease lapses (ADR 036) */
  fence: z.boolean().default(false),
});
export type VmSpec = z.output<typeof vmSpecSchema>;
export type VmSpecInput = z.input<typeof vmSpecSchema>;

export const vmActionSchema = z.object({ action: z.enum(["start", "stop", "reboot", "poweroff"]) });
export type VmAction = z.output<typeof vmActionSchema>["action"];

export const powerStateSchema = z.enum(["running", "paused", "shutoff", "starting", "stopping", "error", "unknown"]);

export const vmExitSchema = z.object({
  reason: z.enum(["guest-shutdown", "crashed"]),
  /** in words, e.g. "QEMU exited unexpectedly (killed by SIGKILL)" */
  detail: z.string().max(500),
  at: z.string().max(40),
});
export type VmExit = z.output<typeof vmExitSchema>;

export const vmStatusSchema = z.object({
  id: safeIdSchema,
  name: z.string(),
  arch: z.enum(ARCHES),
  powerState: powerStateSchema,
  /** QMP `query-status` value when known */
  qmpStatus: z.string().optional(),
  pid: z.number().int().optional(),
  emulated: z.boolean(),
  accel: z.enum(["kvm", "tcg"]),
  vcpus: z.number().int(),
  memoryMb: z.number().int(),
  error: z.string().optional(),
  serialLog: z.string().optional(),
  /** resident memory of the QEMU process in MiB, when running */
  rssMb: z.number().optional(),
  cpuSeconds: z.number().optional(),
  /** the VM's graphical display; "none" = serial console only (absent from older agents) */
  display: displaySchema.optional(),
  /** the generation of this copy (spec.generation); absent from older agents = 1 */
  generation: z.number().int().min(1).optional(),
  /** the machine type QEMU runs (the pinned one, or the alias) */
  machineType: z.string().max(64).optional(),
  /** this copy takes part in a live migration: incoming (target, paused until complete) or outgoing (source) */
  migration: z.object({ role: z.enum(["incoming", "outgoing"]), phase: z.string().max(40) }).optional(),
  /**
   * Why QEMU last exited when nobody on this side asked it to (absent after a stop, delete or start):
   * the guest powered itself off, or QEMU died (a signal, a crash). Absent from older agents.
   */
  lastExit: vmExitSchema.optional(),
});
export type VmStatus = z.output<typeof vmStatusSchema>;

/**
 * Facts are what the scheduler believes (ADR 025): bounded to what real hardware has, so a
 * join-token holder cannot claim 100000 CPUs and attract every new VM (and its user-data).
 */
export const MAX_HOST_CPUS = 4096;
export const MAX_HOST_MEMORY_MB = 64 * 1024 * 1024; // 64 TiB
export const MAX_HOST_DISK_GB = 1024 * 1024; // 1 PiB
const shortText = (max: number, what: string) => z.string().max(max, `${what} is at most ${max} characters`);
const archListSchema = z
  .array(z.enum(ARCHES))
  .max(ARCHES.length)
  .refine((a) => new Set(a).size === a.length, "arch lists may not repeat an architecture");
const vcpuLimitSchema = z
  .number()
  .int()
  .min(1, "a vCPU limit is at least 1")
  .max(MAX_HOST_CPUS, `a vCPU limit is at most ${MAX_HOST_CPUS}`)
  .nullable();
export const hostFactsSchema = z
  .object({
    hostname: shortText(253, "hostname"),
    machineId: z
      .string()
      .min(1, "machineId is required")
      .max(128, "machineId is at most 128 characters")
      .regex(/^[A-Za-z0-9._:-]+$/, "machineId may contain only letters, digits, '.', '_', ':' and '-'"),
    arch: z.enum(ARCHES),
    cpuCount: z
      .number()
      .int()
      .min(1, "cpuCount is at least 1")
      .max(MAX_HOST_CPUS, `cpuCount of ${MAX_HOST_CPUS}+ is not a real host`),
    cpuModel: shortText(256, "cpuModel"),
    memoryMb: z
      .number()
      .int()
      .min(64, "memoryMb is at least 64")
      .max(MAX_HOST_MEMORY_MB, `memoryMb above ${MAX_HOST_MEMORY_MB} (64 TiB) is not a real host`),
    diskGb: z
      .number()
      .int()
      .min(0, "diskGb may not be negative")
      .max(MAX_HOST_DISK_GB, `diskGb above ${MAX_HOST_DISK_GB} (1 PiB) is not a real host`),
    kvm: z.boolean(),
    qemu: z.object({
      version: shortText(64, "qemu.version").nullable(),
      binaries: z.record(shortText(64, "a qemu binary name"), shortText(4096, "a qemu binary path")),
      firmware: z.record(shortText(64, "a firmware name"), shortText(4096, "a firmware path")),
    }),
    ovs: z.object({
      available: z.boolean(),
      version: shortText(64, "ovs.version").nullable(),
      datapath: z.enum(["system", "netdev"]).nullable(),
    }),
    nativeArches: archListSchema,
    emulatedArches: archListSchema,
    maxVcpusNative: vcpuLimitSchema,
    maxVcpusEmulated: vcpuLimitSchema,
    agentVersion: shortText(64, "agentVersion"),
    // Migration compatibility (issue 14); absent from older agents = unknown.
    /** per arch this host's QEMU emulates: its machine types and what the unversioned alias (q35 / virt) resolves to */
    machines: z
      .partialRecord(
        z.enum(ARCHES),
        z.object({
          default: shortText(64, "a machine type"),
          types: z.array(shortText(64, "a machine type")).max(400, "at most 400 machine types"),
        }),
      )
      .optional(),
    /** the kernel's page size in KiB: aarch64 KVM guests move only between equal page sizes */
    pageSizeKb: z
      .number()
      .int()
      .refine((v) => [4, 8, 16, 64].includes(v), "pageSizeKb is 4, 8, 16 or 64")
      .nullable()
      .optional(),
    /** aarch64: the host GIC version (2, 3, 4); null = unknown or not arm */
    gicVersion: z.number().int().min(2).max(4).nullable().optional(),
    /** aarch64: the CPU's MIDR implementer and part (0x48 / 0xd01 = HiSilicon Kunpeng 920); KVM guests get host passthrough */
    cpuId: z
      .object({
        implementer: z.string().regex(/^0x[0-9a-f]{1,4}$/, "implementer is hex like 0x41"),
        part: z.string().regex(/^0x[0-9a-f]{1,4}$/, "part is hex like 0xd0c"),
      })
      .nullable()
      .optional(),
    /** x86_64 with KVM: named CPU models this host can run without missing features; absent = unknown */
    cpuModels: z.array(shortText(64, "a CPU model")).max(400, "at most 400 CPU models").optional(),
    /**
     * What the agent's networking offers (ADR 057, 058): DHCP namespaces, and an external network
     * (--external-bridge with nft and root) for routers, SNAT and floating IPs. Absent = an older agent.
     */
    network: z.object({ dhcp: z.boolean(), externalNetwork: z.boolean() }).optional(),
  })
  .superRefine((f, ctx) => {
    if (Object.keys(f.qemu.binaries).length > 16 || Object.keys(f.qemu.firmware).length > 32)
      ctx.addIssue({ code: "custom", path: ["qemu"], message: "too many qemu binaries or firmware entries" });
    if (f.nativeArches.some((a) => a !== f.arch))
      ctx.addIssue({
        code: "custom",
        path: ["nativeArches"],
        message: `a ${f.arch} host runs only ${f.arch} natively`,
      });
    if (f.maxVcpusNative !== null && f.maxVcpusNative > f.cpuCount)
      ctx.addIssue({
        code: "custom",
        path: ["maxVcpusNative"],
        message: "maxVcpusNative cannot exceed cpuCount",
      });
  });
export type HostFacts = z.output<typeof hostFactsSchema>;

export const hostUsageSchema = z.object({
  cpuPct: z.number(),
  memoryUsedMb: z.number(),
  diskUsedGb: z.number(),
  loadAvg: z.array(z.number()).max(3),
});

// ---- agent -> controller (served by the controller under /api/agent/v1) ----
export const agentUrlSchema = z
  .string()
  .max(2048, "agentUrl is at most 2048 characters")
  .url()
  .refine(
    (u) => /^https?:\/\/[^/?#]+\/?$/i.test(u),
    "agentUrl must be http(s)://host:port with no path, query or credentials",
  )
  .refine((u) => !u.includes("@"), "agentUrl may not carry credentials");
export const registerRequestSchema = z.object({
  joinToken: z.string().min(16).max(256),
  /** base URL the controller uses to reach this agent, e.g. https://10.0.0.5:7101 (https unless --insecure-http) */
  agentUrl: agentUrlSchema,
  facts: hostFactsSchema,
  /** the agent's own EC P-256 key (SPKI PEM) + a signature over keyProofMessage with it (base64); absent only with --insecure-http */
  tls: z.object({ publicKey: z.string().min(100).max(2000), proof: z.string().min(16).max(400) }).optional(),
});
/** What the agent signs with its new key at registration: proves it holds the key the certificate is for. */
export function keyProofMessage(machineId: string, agentUrl: string, publicKeyPem: string): string {
  return `polyarch-register-v1\n${machineId}\n${agentUrl}\n${publicKeyPem.trim()}`;
}
/** The host's certificate (SAN = the agentUrl host) and the cluster CA that signed it; fingerprints are SHA-256 hex. */
export const registerTlsSchema = z.object({
  certificate: z.string().max(8000),
  caCertificate: z.string().max(8000),
  fingerprint: z.string(),
  caFingerprint: z.string(),
});
export const registerResponseSchema = z.object({
  hostId: z.string(),
  hostToken: z.string(),
  heartbeatIntervalMs: z.number().int(),
  tls: registerTlsSchema.optional(),
});
/** PUT /v1/token on the agent (controller -> agent, authenticated with the current token): the rotated host token. */
export const agentTokenPushSchema = z.object({
  hostToken: z.string().min(16).max(256),
  generation: z.number().int().min(0),
});
export const agentTokenPushResponseSchema = z.object({ ok: z.literal(true) });

/** One entry of the agent's image cache (<stateDir>/images/<imageId>/). */
export const hostImageStateSchema = z.enum(["downloading", "ready", "error"]);
export const hostImageReportSchema = z.object({
  imageId: safeIdSchema,
  state: hostImageStateSchema,
  /** bytes on the agent's disk (complete + partial files) */
  sizeBytes: z.number().int().min(0),
  /** a VM on this host boots from it (its overlay's backing file): it cannot be evicted */
  inUse: z.boolean(),
});
export type HostImageReport = z.output<typeof hostImageReportSchema>;

/**
 * CPU and memory samples taken by the agent since its previous heartbeat (agent/src/host/metrics.ts).
 * Host cpuPct: 0..100 over all cores. VM cpuPct: the QEMU process, 100 = one host core (a VM
 * with 2 busy vCPUs shows ~200). VM memory is the QEMU process's resident set (VmRSS).
 */
export const MAX_METRIC_VMS = 10000;
export const heartbeatMetricsSchema = z.object({
  /** how long the CPU percentages were measured over */
  windowMs: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600_000),
  host: z.object({
    cpuPct: z.number().min(0).max(100),
    memUsedMb: z
      .number()
      .int()
      .min(0)
      .max(1 << 30),
    memTotalMb: z
      .number()
      .int()
      .min(0)
      .max(1 << 30),
  }),
  vms: z
    .array(
      z.object({
        id: safeIdSchema,
        cpuPct: z
          .number()
          .min(0)
          .max(100 * 65536),
        rssMb: z
          .number()
          .int()
          .min(0)
          .max(1 << 30),
      }),
    )
    .max(MAX_METRIC_VMS),
});
export type HeartbeatMetrics = z.output<typeof heartbeatMetricsSchema>;

export const heartbeatRequestSchema = z.object({
  usage: hostUsageSchema,
  vms: z.array(vmStatusSchema).max(10000),
  facts: hostFactsSchema.optional(),
  agentUrl: agentUrlSchema.optional(),
  /** the image cache; absent from older agents (the controller then leaves its records alone) */
  images: z.array(hostImageReportSchema).max(10000).optional(),
  /** CPU / memory samples; absent from older agents and on the first heartbeat of a run */
  metrics: heartbeatMetricsSchema.optional(),
});
export const heartbeatResponseSchema = z.object({
  ok: z.literal(true),
  heartbeatIntervalMs: z.number().int(),
  /**
   * The host's lease (ADR 036): on every acknowledged heartbeat the agent arms its fence watchdog for
   * this long (counted from when it SENT the heartbeat). If no heartbeat is acknowledged in time the
   * watchdog kills the host's fenced (HA) VMs; the controller restarts them elsewhere only after
   * lastHeartbeatAt + fenceAfterMs + a margin. Absent = no HA lease (older controllers).
   */
  fenceAfterMs: z.number().int().min(1000).max(3_600_000).optional(),
  /**
   * Copies this agent reported that the controller has moved to another host at a newer
   * generation (migration, HA restart): the agent kills each one whose local generation is LOWER
   * than the one given and removes its files. Never sent for VMs the controller does not know.
   */
  evict: z
    .array(z.object({ id: safeIdSchema, generation: z.number().int().min(1) }))
    .max(10000)
    .optional(),
});
export type HeartbeatResponse = z.output<typeof heartbeatResponseSchema>;

export const agentErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type AgentError = z.output<typeof agentErrorSchema>;

/**
 * A VM create as the agent lives it, step by step. With `Accept: application/x-ndjson` the agent
 * answers `PUT /v1/vms/:id` with one JSON line per event as it happens — steps, then one `result`
 * or `error` line — so the controller records each step with its own time. Without that header
 * (or when the PUT fails before the first step) the answer is the plain JSON of old.
 */
export const VM_CREATE_STEPS = ["image ready", "disk", "network", "starting", "running"] as const;
export type VmCreateStep = (typeof VM_CREATE_STEPS)[number];
export const VM_PUT_STREAM_TYPE = "application/x-ndjson";
export const vmStepEventSchema = z.object({
  type: z.literal("step"),
  name: z.enum(VM_CREATE_STEPS),
  status: z.enum(["running", "succeeded", "failed", "skipped"]),
  message: z.string().max(1000).optional(),
  /** the agent's clock, ISO 8601: kept for diagnosis; the controller stamps steps with its own */
  at: z.string().max(40),
});
export type VmStepEvent = z.output<typeof vmStepEventSchema>;
export const vmPutStreamEndSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("result"), status: z.number().int(), body: z.unknown() }),
  z.object({ type: z.literal("error"), status: z.number().int(), body: agentErrorSchema }),
]);

export const AGENT_API_PREFIX = "/v1";
export const CONTROLLER_AGENT_PREFIX = "/api/agent/v1";

// ---- agent API v1 responses (served by agent/src/api/server.ts) ----
// Errors: agentErrorSchema with 400 (malformed JSON, invalid id or spec), 401, 404, 405, 409
// (arch/feature this host cannot run), 413 (body > 1 MiB), 422 (beyond the host's size or the
// image's), 503 (image/OVS/QEMU unavailable), 500 (generic message; details in the agent log).

/** GET /v1/health (no auth) */
export const agentHealthResponseSchema = z.object({
  ok: z.literal(true),
  agentVersion: z.string(),
  arch: z.enum(ARCHES),
  registered: z.boolean().optional(),
  hostId: z.string().nullable().optional(),
});
/** GET /v1/host */
export const agentHostResponseSchema = z.object({ facts: hostFactsSchema, usage: hostUsageSchema });
/** GET /v1/vms */
export const agentVmListResponseSchema = z.object({ vms: z.array(vmStatusSchema) });
/** GET /v1/vms/:id, POST /v1/vms/:id/actions -> 200 vmStatusSchema; PUT /v1/vms/:id -> 201 (created) or 200 (existed) vmStatusSchema */
/** DELETE /v1/vms/:id -> 200 (404 when the VM is not on this host: treat as already deleted) */
export const agentVmDeleteResponseSchema = z.object({ id: safeIdSchema, deleted: z.literal(true) });
/** GET /v1/images */
export const agentImageListResponseSchema = z.object({ images: z.array(hostImageReportSchema) });
/** DELETE /v1/images/:imageId -> 200; 404 when not cached; 409 while a VM on this host uses it (the message names the VMs) */
export const agentImageEvictResponseSchema = z.object({
  imageId: safeIdSchema,
  evicted: z.literal(true),
  freedBytes: z.number().int().min(0),
});

// ---- image download (controller -> agent), GET /api/agent/v1/images/<imageId>/<file> ----
/** Bearer host token; must honour `Range: bytes=<n>-` with 206 + Content-Range (200 = restart). 404 for an absent optional initrd. */
export const imageFileSchema = z.enum(["disk", "kernel", "initrd"]);
export type ImageFileName = z.output<typeof imageFileSchema>;

// ---- storage (issue 13): volumes, snapshots, disk export ----

/**
 * PUT /v1/volumes/:id — creates the volume (a qcow2 file in <stateDir>/volumes/) or, when it
 * exists, grows it (online with block_resize when attached to a running VM). Shrinking is refused
 * (409). A source image is copied (qemu-img convert), never used as a backing file, so the image
 * cache may evict it. Idempotent: the same size again changes nothing.
 */
export const volumeSpecSchema = z.object({
  sizeGb: z.number().int().min(1, "a volume is at least 1 GiB").max(65536),
  source: z
    .object({ imageId: safeIdSchema, format: z.enum(["qcow2", "raw"]), sha256: sha256Schema.optional() })
    .optional(),
});
export type VolumeSpec = z.output<typeof volumeSpecSchema>;
export const agentVolumeSchema = z.object({
  id: safeIdSchema,
  sizeGb: z.number().int(),
  /** bytes the file takes on the agent's disk */
  allocatedBytes: z.number().int().min(0),
  /** the VM whose spec lists it, if any */
  attachedTo: safeIdSchema.nullable(),
});
export type AgentVolume = z.output<typeof agentVolumeSchema>;
/** GET /v1/volumes */
export const agentVolumeListResponseSchema = z.object({ volumes: z.array(agentVolumeSchema) });
/** DELETE /v1/volumes/:id (409 while a VM's spec lists it) */
export const agentVolumeDeleteResponseSchema = z.object({ id: safeIdSchema, deleted: z.literal(true) });

/**
 * Snapshots of a VM's root disk (qcow2 internal snapshots in the VM's overlay; data volumes are not
 * included). `memory: true` also saves the running guest's RAM and device state (QMP snapshot-save)
 * and needs a running VM; a disk-only snapshot works running (blockdev-snapshot-internal-sync) or
 * stopped (qemu-img snapshot).
 *   GET    /v1/vms/:id/snapshots                 -> { snapshots }
 *   POST   /v1/vms/:id/snapshots  {id, memory}   -> 201 snapshot (409 when the id exists)
 *   POST   /v1/vms/:id/snapshots/:sid/revert     -> { status } (memory: the guest resumes where it was;
 *          disk-only: a running VM is powered off, reverted and started again)
 *   DELETE /v1/vms/:id/snapshots/:sid            -> { id, deleted: true }
 */
export const snapshotCreateSchema = z.object({ id: safeIdSchema, memory: z.boolean().default(false) });
export const agentSnapshotSchema = z.object({
  id: safeIdSchema,
  memory: z.boolean(),
  /** ISO timestamp */
  createdAt: z.string(),
  /** size of the saved guest state (0 for disk-only) */
  vmStateBytes: z.number().int().min(0),
});
export type AgentSnapshot = z.output<typeof agentSnapshotSchema>;
export const agentSnapshotListResponseSchema = z.object({ snapshots: z.array(agentSnapshotSchema) });
export const agentSnapshotRevertResponseSchema = z.object({ status: vmStatusSchema });
export const agentSnapshotDeleteResponseSchema = z.object({ id: safeIdSchema, deleted: z.literal(true) });

/**
 * GET /v1/vms/:id/disk[?snapshot=<sid>] — the VM's root disk as one standalone qcow2 (backing
 * chain flattened; with `snapshot`, that snapshot's contents), streamed as
 * application/octet-stream with Content-Length. Without a snapshot the VM must be stopped (409).
 * Used by capture-to-image: the controller validates the bytes like any upload.
 */
export const DISK_EXPORT_CONTENT_TYPE = "application/octet-stream";
