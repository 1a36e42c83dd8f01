import "server-only";
import "reflect-metadata"; // @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs it
// The cluster's small PKI (docs/decisions/017-agent-tls.md): an EC P-256 CA created on the first
// start in <dataDir>/pki/ca (key 0600), a controller certificate it signs (the client certificate
// the controller presents to agents), and one certificate per host, issued at registration for the
// public key the agent generated itself. node:crypto cannot build certificates; @peculiar/x509 can
// (pure JS over WebCrypto) and is used here only, never in the agent.
import * as x509 from "@peculiar/x509";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  verify,
  webcrypto,
  X509Certificate,
  type KeyObject,
} from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { isIP } from "node:net";
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import { normalizeFingerprint } from "../../agent-tls";
import { AppError } from "../../errors";
import { keyProofMessage } from "../../schemas/agent-api";
import { env } from "./env";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
export const CA_VALIDITY_DAYS = 3650;
export const HOST_CERT_VALIDITY_DAYS = 730;
const CONTROLLER_CERT_VALIDITY_DAYS = 397;
/** The subject CN of controller certificates. */
export const CONTROLLER_CN = "polyarch-controller";
/**
 * The controller's role (ADR 025): a URI SAN this CA puts only into controller certificates. Agents
 * accept a peer as the controller only with it; host certificates carry only urn:polyarch:host:<id>,
 * so no host certificate — not even one issued before ADR 025 with an agent-chosen CN — passes.
 */
export const CONTROLLER_URI = "urn:polyarch:controller";
export const HOST_URI_PREFIX = "urn:polyarch:host:";

export interface Pki {
  dir: string;
  caCertPem: string;
  caFingerprint: string;
  controllerCertPem: string;
  controllerKeyPem: string;
}

/** SHA-256 over the DER certificate, lower-case hex without colons (what Host.certFingerprint stores). */
export function certFingerprint(pem: string): string {
  return normalizeFingerprint(new X509Certificate(pem).fingerprint256);
}

export { normalizeFingerprint };

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  return b.toString("hex");
}

async function signingKey(pkcs8Pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pkcs8Pem).export({ type: "pkcs8", format: "der" });
  return (await webcrypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
  ])) as unknown as CryptoKey;
}

async function publicCryptoKey(key: KeyObject): Promise<CryptoKey> {
  const der = key.export({ type: "spki", format: "der" });
  return (await webcrypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, true, [
    "verify",
  ])) as unknown as CryptoKey;
}

/** Writes files into a fresh directory, then renames it into place: a reader sees all of them or none. */
function writeDirAtomically(final: string, files: Record<string, { data: string; mode: number }>): boolean {
  const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  mkdirSync(tmp, { mode: 0o700 });
  for (const [name, f] of Object.entries(files)) {
    writeFileSync(join(tmp, name), f.data, { mode: f.mode });
    chmodSync(join(tmp, name), f.mode); // umask-proof
  }
  try {
    renameSync(tmp, final);
    return true;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code === "ENOTEMPTY" || (e as NodeJS.ErrnoException).code === "EEXIST")
      return false; // another process won
    throw e;
  }
}

function newKeyPairPem(): { privatePem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), publicKey };
}

async function createCa(dir: string): Promise<void> {
  const { privatePem, publicKey } = newKeyPairPem();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Polyarch cluster CA ${randomBytes(3).toString("hex")}, O=Polyarch`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY),
    signingAlgorithm: ALG,
    keys: { privateKey: await signingKey(privatePem), publicKey: await publicCryptoKey(publicKey) },
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(await publicCryptoKey(publicKey)),
    ],
  });
  writeDirAtomically(dir, {
    "key.pem": { data: privatePem, mode: 0o600 },
    "cert.pem": { data: cert.toString("pem") + "\n", mode: 0o644 },
  });
}

interface IssueInput {
  subjectCn: string;
  publicKey: KeyObject;
  sans: Array<{ type: "ip" | "dns" | "url"; value: string }>;
  validityDays: number;
}

async function issue(
  ca: { certPem: string; keyPem: string },
  input: IssueInput,
): Promise<{ certPem: string; fingerprint: string; expiresAt: Date }> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const now = Date.now();
  const notAfter = new Date(Math.min(now + input.validityDays * DAY, caCert.notAfter.getTime()));
  const pub = await publicCryptoKey(input.publicKey);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${input.subjectCn.replace(/[,=+<>#;"\\]/g, "-")}, O=Polyarch`,
    issuer: caCert.subject,
    notBefore: new Date(now - 5 * 60_000),
    notAfter,
    signingAlgorithm: ALG,
    publicKey: pub,
    signingKey: await signingKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(input.sans),
      await x509.SubjectKeyIdentifierExtension.create(pub),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  const certPem = cert.toString("pem") + "\n";
  return { certPem, fingerprint: certFingerprint(certPem), expiresAt: notAfter };
}

function readCa(dir: string): { certPem: string; keyPem: string } {
  return { certPem: readFileSync(join(dir, "cert.pem"), "utf8"), keyPem: readFileSync(join(dir, "key.pem"), "utf8") };
}

const DNS_NAME =
  /^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** A SAN for a DNS name or IP address (brackets of an IPv6 literal dropped); null if it is neither. */
export function sanFor(name: string): { type: "ip" | "dns"; value: string } | null {
  const v = name.trim().replace(/^\[|\]$/g, "");
  if (isIP(v)) return { type: "ip", value: v };
  return DNS_NAME.test(v) ? { type: "dns", value: v.replace(/\.$/, "").toLowerCase() } : null;
}

/**
 * Names of the controller certificate, which agents verify when they call the agent TLS port:
 * loopback, the host of POLYARCH_PUBLIC_URL, and POLYARCH_AGENT_TLS_NAMES (comma-separated DNS
 * names / IPs; default: this machine's hostname).
 */
export function controllerSans(): IssueInput["sans"] {
  const sans: IssueInput["sans"] = [
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
    { type: "url", value: CONTROLLER_URI },
  ];
  const add = (san: { type: "ip" | "dns"; value: string } | null) => {
    if (san && !sans.some((s) => s.type === san.type && s.value === san.value)) sans.push(san);
  };
  try {
    add(sanFor(new URL(env().publicUrl).hostname));
  } catch {
    /* no public URL */
  }
  const configured = env().POLYARCH_AGENT_TLS_NAMES;
  if (configured) {
    for (const n of configured
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean)) {
      const san = sanFor(n);
      if (!san)
        throw new Error(`POLYARCH_AGENT_TLS_NAMES: ${JSON.stringify(n)} is neither a DNS name nor an IP address`);
      add(san);
    }
  } else {
    add(sanFor(osHostname())); // skipped if the machine's name is not a valid DNS name
  }
  return sans;
}

/**
 * The controller URL for agents' join command: when the agent TLS port is on, that port on the
 * first POLYARCH_AGENT_TLS_NAMES name (else the public URL's host); otherwise the public URL.
 */
export function agentFacingUrl(): string {
  const e = env();
  if (!e.POLYARCH_AGENT_TLS_PORT) return e.publicUrl;
  const first = e.POLYARCH_AGENT_TLS_NAMES?.split(",")
    .map((x) => x.trim())
    .find((x) => sanFor(x));
  const host = first
    ? isIP(first.replace(/^\[|\]$/g, "")) === 6
      ? `[${first.replace(/^\[|\]$/g, "")}]`
      : first
    : new URL(e.publicUrl).hostname;
  return `https://${host}:${e.POLYARCH_AGENT_TLS_PORT}`;
}

/** Whether a certificate covers every name (IP SANs by address, DNS SANs by name; the subject CN never counts). */
function coversNames(cert: X509Certificate, sans: IssueInput["sans"]): boolean {
  return sans.every((s) =>
    s.type === "ip"
      ? cert.checkIP(s.value) !== undefined
      : s.type === "dns"
        ? cert.checkHost(s.value, { subject: "never" }) !== undefined
        : (cert.subjectAltName ?? "").split(", ").includes(`URI:${s.value}`),
  );
}

async function ensureControllerCert(dir: string, ca: { certPem: string; keyPem: string }): Promise<void> {
  const certFile = join(dir, "cert.pem");
  const sans = controllerSans();
  if (existsSync(certFile) && existsSync(join(dir, "key.pem"))) {
    const cert = new X509Certificate(readFileSync(certFile, "utf8"));
    const fresh = new Date(cert.validTo).getTime() - Date.now() > 30 * DAY;
    if (
      fresh &&
      cert.checkIssued(new X509Certificate(ca.certPem)) &&
      cert.verify(new X509Certificate(ca.certPem).publicKey) &&
      coversNames(cert, sans)
    )
      return;
    rmSync(dir, { recursive: true, force: true }); // expiring, signed by another CA, or lacking a configured name: issue anew
  }
  const { privatePem, publicKey } = newKeyPairPem();
  const issued = await issue(ca, {
    subjectCn: CONTROLLER_CN,
    publicKey,
    sans,
    validityDays: CONTROLLER_CERT_VALIDITY_DAYS,
  });
  writeDirAtomically(dir, {
    "key.pem": { data: privatePem, mode: 0o600 },
    "cert.pem": { data: issued.certPem, mode: 0o644 },
  });
}

const cache = new Map<string, Promise<Pki>>();

/** The CA and controller certificate of this data dir, created on first use (also at start-up). */
export function ensurePki(): Promise<Pki> {
  const dir = join(env().dataDir, "pki");
  let p = cache.get(dir);
  if (!p) {
    p = (async () => {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const caDir = join(dir, "ca");
      if (!existsSync(join(caDir, "cert.pem"))) await createCa(caDir);
      const ca = readCa(caDir);
      const ctlDir = join(dir, "controller");
      await ensureControllerCert(ctlDir, ca);
      const ctl = readCa(ctlDir);
      return {
        dir,
        caCertPem: ca.certPem,
        caFingerprint: certFingerprint(ca.certPem),
        controllerCertPem: ctl.certPem,
        controllerKeyPem: ctl.keyPem,
      };
    })();
    p.catch(() => cache.delete(dir));
    cache.set(dir, p);
  }
  return p;
}

/** Parses and checks the agent's public key (EC P-256 only) and its proof of possession. */
export function checkAgentKey(publicKeyPem: string, proofB64: string, machineId: string, agentUrl: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(publicKeyPem);
  } catch {
    throw new AppError({ code: "invalid", message: "tls.publicKey is not a PEM public key." });
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new AppError({ code: "invalid", message: "tls.publicKey must be an EC P-256 key." });
  }
  const ok = verify(
    "sha256",
    Buffer.from(keyProofMessage(machineId, agentUrl, publicKeyPem)),
    key,
    Buffer.from(proofB64, "base64"),
  );
  if (!ok)
    throw new AppError({
      code: "invalid",
      message: "tls.proof does not verify with tls.publicKey: the agent must sign the registration with its key.",
    });
  return key;
}

/**
 * A certificate for one host's agent. Its only identity is urn:polyarch:host:<id> (CN and the one
 * URI SAN), never a name or address the agent chose (ADR 025): it cannot pass as the controller,
 * nor as a server name; the controller checks it by its pinned fingerprint.
 */
export async function issueHostCertificate(input: { hostId: string; publicKey: KeyObject }) {
  await ensurePki();
  const ca = readCa(join(env().dataDir, "pki", "ca"));
  const identity = `${HOST_URI_PREFIX}${input.hostId}`;
  const sans: IssueInput["sans"] = [{ type: "url", value: identity }];
  const issued = await issue(ca, {
    subjectCn: identity,
    publicKey: input.publicKey,
    sans,
    validityDays: HOST_CERT_VALIDITY_DAYS,
  });
  return { ...issued, caCertPem: ca.certPem };
}

/** Test helper: forget the cached PKI (tests switch data dirs). */
export function resetPkiForTests(): void {
  cache.clear();
}
