// Command line + environment -> validated agent configuration. Flags win over env.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";

export const USAGE = `polyarch-agent — Polyarch node agent (QEMU + Open vSwitch)

Usage: node agent.mjs --controller URL [options]

  --controller URL        controller base URL: its agent TLS port, https://<host>:3443  env POLYARCH_CONTROLLER_URL
  --join-token-file FILE  join token (first start), read from FILE     env POLYARCH_JOIN_TOKEN (the token itself)
                          never on the command line: ps shows it to every user of the machine
  --listen HOST:PORT      agent API address (default 127.0.0.1:7101)   env POLYARCH_AGENT_LISTEN
  --advertise-url URL     URL the controller calls (default https://<listen>)  env POLYARCH_AGENT_URL
  --controller-ca FILE    trust only this cluster CA (PEM; data/pki/ca/cert.pem on the controller)  env POLYARCH_CONTROLLER_CA
  --controller-fingerprint SHA256   trust only the cluster CA with this fingerprint (Hosts page)  env POLYARCH_CONTROLLER_FINGERPRINT
                          without either: the CA in the first registration answer is trusted from then on
  --insecure-http         development only: serve the agent API over plain HTTP (no certificate)
  --state-dir DIR         VMs, image cache, identity (default /var/lib/polyarch-agent)  env POLYARCH_STATE_DIR
  --bridge NAME           OVS bridge for VM NICs (default br-pa)        env POLYARCH_BRIDGE
  --ovs-db unix:PATH      private ovsdb-server socket (default: system OVS)  env POLYARCH_OVS_DB
  --ovs-datapath netdev|system   override datapath detection
  --machine-id ID         identity override (several agents on one machine)  env POLYARCH_MACHINE_ID
  --heartbeat-ms N        fixed heartbeat interval (default: the controller's)
  --kvm auto|off          off = never use /dev/kvm (default auto)
  --dhcp on|off|auto      DHCP per network: a dnsmasq per VLAN serves the NICs' addresses (ADR 057);
                          auto = on when dnsmasq is installed (default auto)  env POLYARCH_DHCP
  --external-bridge NAME  OVS bridge of the external network: routers (SNAT, floating IPs, ADR 058) get
                          their uplink there; without it this host refuses routers  env POLYARCH_EXTERNAL_BRIDGE
  --external-vlan N       VLAN tag of the uplinks on the external bridge (default 0 = untagged)  env POLYARCH_EXTERNAL_VLAN
  --image-cache-max-gb N  after each image download, evict least-recently-used images no VM
                          uses until the cache is at most N GiB (default: no limit)  env POLYARCH_IMAGE_CACHE_MAX_GB
  --api-token T           extra static token for the agent API (debugging)  env POLYARCH_AGENT_API_TOKEN
  --node-command JSON     how to run Node for the fence watchdog, a JSON argv array (default: this Node)
                          e.g. '["qemu-aarch64-static","-L","/sysroot","/opt/node/bin/node"]'  env POLYARCH_AGENT_NODE_COMMAND
  --help

  node agent.mjs fence-watchdog --state-dir DIR   the fence watchdog (ADR 036); the agent starts it itself
`;

const hostPort = z.string().transform((v, ctx) => {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: "custom", message: `--listen must be HOST:PORT, e.g. 127.0.0.1:7101 (got "${v}")` });
    return z.NEVER;
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
});

const httpUrl = (flag: string) =>
  z
    .string()
    .trim()
    .refine((v) => {
      try {
        const u = new URL(v);
        return (u.protocol === "http:" || u.protocol === "https:") && !u.search && !u.hash;
      } catch {
        return false;
      }
    }, `${flag} must be an http(s) URL without query, e.g. http://127.0.0.1:3000`)
    .transform((v) => v.replace(/\/+$/, ""));

const nodeCommandSchema = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined) return [process.execPath];
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      parsed = null;
    }
    const r = z.array(z.string().min(1).max(4096)).min(1).max(16).safeParse(parsed);
    if (!r.success) {
      ctx.addIssue({
        code: "custom",
        message: `--node-command must be a JSON array of 1-16 non-empty strings, e.g. ["/usr/bin/node"] (got ${JSON.stringify(v.slice(0, 80))})`,
      });
      return z.NEVER;
    }
    return r.data;
  });

export const configSchema = z
  .object({
    controller: httpUrl("--controller").optional(),
    joinToken: z.string().min(16, "the join token must be at least 16 characters").max(256).optional(),
    listen: hostPort,
    advertiseUrl: httpUrl("--advertise-url").optional(),
    stateDir: z
      .string()
      .min(1, "--state-dir must not be empty")
      .transform((v) => path.resolve(v)),
    bridge: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/, "--bridge must be 1-15 of letters, digits, '_', '.', '-'"),
    ovsDb: z
      .string()
      .regex(
        /^(unix:\/\S+|tcp:127\.0\.0\.1:\d+)$/,
        "--ovs-db must be unix:/absolute/path/db.sock (or tcp:127.0.0.1:PORT)",
      )
      .optional(),
    ovsDatapath: z.enum(["netdev", "system"]).optional(),
    machineId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "--machine-id may contain letters, digits, '-' and '_' (max 64)")
      .optional(),
    heartbeatMs: z.coerce
      .number({ error: "--heartbeat-ms must be a number of milliseconds" })
      .int("--heartbeat-ms must be an integer")
      .min(200, "--heartbeat-ms must be at least 200")
      .max(3_600_000)
      .optional(),
    kvm: z.enum(["auto", "off"], { error: "--kvm must be auto or off" }).default("auto"),
    dhcp: z.enum(["on", "off", "auto"], { error: "--dhcp must be on, off or auto" }).default("auto"),
    externalBridge: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/, "--external-bridge must be 1-15 of letters, digits, '_', '.', '-'")
      .optional(),
    externalVlan: z.coerce
      .number({ error: "--external-vlan must be 0..4094" })
      .int("--external-vlan must be 0..4094")
      .min(0, "--external-vlan must be 0..4094")
      .max(4094, "--external-vlan must be 0..4094")
      .optional(),
    apiToken: z.string().min(16, "--api-token must be at least 16 characters").optional(),
    controllerCa: z
      .string()
      .min(1)
      .transform((v) => path.resolve(v))
      .optional(),
    controllerFingerprint: z
      .string()
      .transform((v) => v.replace(/[:\s]/g, "").toLowerCase())
      .refine(
        (v) => /^[0-9a-f]{64}$/.test(v),
        "--controller-fingerprint must be a SHA-256 fingerprint (64 hex digits, colons allowed)",
      )
      .optional(),
    insecureHttp: z.boolean().default(false),
    /** argv prefix that runs Node (the fence watchdog is started with it); default: this process's Node */
    nodeCommand: nodeCommandSchema,
    imageCacheMaxGb: z.coerce
      .number({ error: "--image-cache-max-gb must be a number of GiB" })
      .positive("--image-cache-max-gb must be greater than 0")
      .max(1_000_000, "--image-cache-max-gb is at most 1000000")
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.externalVlan !== undefined && !c.externalBridge)
      ctx.addIssue({ code: "custom", path: ["externalVlan"], message: "--external-vlan needs --external-bridge" });
    if (!c.controller && !c.apiToken) {
      ctx.addIssue({
        code: "custom",
        path: ["controller"],
        message: "--controller is required (or --api-token for a standalone agent)",
      });
    }
    if (!c.controller && !c.insecureHttp) {
      ctx.addIssue({
        code: "custom",
        path: ["insecureHttp"],
        message: "a standalone agent (no --controller) has no certificate: add --insecure-http (development only)",
      });
    }
    if (c.advertiseUrl) {
      const want = c.insecureHttp ? "http:" : "https:";
      if (new URL(c.advertiseUrl).protocol !== want) {
        ctx.addIssue({
          code: "custom",
          path: ["advertiseUrl"],
          message: c.insecureHttp
            ? "--advertise-url must be http:// with --insecure-http"
            : "--advertise-url must be https:// (the agent serves TLS; --insecure-http is for development only)",
        });
      }
    }
  })
  .transform((c) => ({
    ...c,
    advertiseUrl:
      c.advertiseUrl ??
      `${c.insecureHttp ? "http" : "https"}://${c.listen.host.includes(":") ? `[${c.listen.host}]` : c.listen.host}:${c.listen.port}`,
  }));

export type AgentConfig = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function readTokenFile(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new ConfigError(`--join-token-file ${file}: ${(e as Error).message}`);
  }
}

/** Returns the config, or "help" for --help. Throws ConfigError with every problem listed. */
export function parseConfig(argv: string[], env: Record<string, string | undefined>): AgentConfig | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        controller: { type: "string" },
        "join-token": { type: "string" },
        "join-token-file": { type: "string" },
        listen: { type: "string" },
        "advertise-url": { type: "string" },
        "state-dir": { type: "string" },
        bridge: { type: "string" },
        "ovs-db": { type: "string" },
        "ovs-datapath": { type: "string" },
        "machine-id": { type: "string" },
        "heartbeat-ms": { type: "string" },
        kvm: { type: "string" },
        dhcp: { type: "string" },
        "external-bridge": { type: "string" },
        "external-vlan": { type: "string" },
        "api-token": { type: "string" },
        "image-cache-max-gb": { type: "string" },
        "node-command": { type: "string" },
        "controller-ca": { type: "string" },
        "controller-fingerprint": { type: "string" },
        "insecure-http": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    throw new ConfigError(`${(e as Error).message}\n\n${USAGE}`);
  }
  if (values.help) return "help";
  if (values["join-token"] !== undefined)
    throw new ConfigError(
      "--join-token was removed: a token on the command line is visible in ps to every user. " +
        "Use --join-token-file FILE (mode 0600) or the environment variable POLYARCH_JOIN_TOKEN.",
    );
  const s = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const e = (k: string) => (env[k] !== undefined && env[k] !== "" ? env[k] : undefined);
  const raw = {
    controller: s("controller") ?? e("POLYARCH_CONTROLLER_URL"),
    joinToken: readTokenFile(s("join-token-file")) ?? e("POLYARCH_JOIN_TOKEN"),
    listen: s("listen") ?? e("POLYARCH_AGENT_LISTEN") ?? "127.0.0.1:7101",
    advertiseUrl: s("advertise-url") ?? e("POLYARCH_AGENT_URL"),
    stateDir: s("state-dir") ?? e("POLYARCH_STATE_DIR") ?? "/var/lib/polyarch-agent",
    bridge: s("bridge") ?? e("POLYARCH_BRIDGE") ?? "br-pa",
    ovsDb: s("ovs-db") ?? e("POLYARCH_OVS_DB"),
    ovsDatapath: s("ovs-datapath"),
    machineId: s("machine-id") ?? e("POLYARCH_MACHINE_ID"),
    heartbeatMs: s("heartbeat-ms"),
    kvm: s("kvm"),
    dhcp: s("dhcp") ?? e("POLYARCH_DHCP"),
    externalBridge: s("external-bridge") ?? e("POLYARCH_EXTERNAL_BRIDGE"),
    externalVlan: s("external-vlan") ?? e("POLYARCH_EXTERNAL_VLAN"),
    apiToken: s("api-token") ?? e("POLYARCH_AGENT_API_TOKEN"),
    imageCacheMaxGb: s("image-cache-max-gb") ?? e("POLYARCH_IMAGE_CACHE_MAX_GB"),
    nodeCommand: s("node-command") ?? e("POLYARCH_AGENT_NODE_COMMAND"),
    controllerCa: s("controller-ca") ?? e("POLYARCH_CONTROLLER_CA"),
    controllerFingerprint: s("controller-fingerprint") ?? e("POLYARCH_CONTROLLER_FINGERPRINT"),
    insecureHttp: values["insecure-http"] === true,
  };
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `  - ${i.message}`).join("\n") + "\n\nRun with --help for usage.");
  }
  return r.data;
}
