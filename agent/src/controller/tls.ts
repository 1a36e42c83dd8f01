// The agent's side of the secured channel (docs/decisions/017-agent-tls.md), node:crypto + node:tls
// only (no X.509 library, no native module):
// - its own EC P-256 key, generated here and kept in <stateDir>/tls/key.pem (0600); the controller
//   issues the certificate for it at registration (cert.pem) together with the cluster CA (ca.pem);
// - the cluster CA is trusted from --controller-ca, or from a pinned fingerprint
//   (--controller-fingerprint), or else from the registration answer (trust on first use); from then
//   on it is the only CA the agent trusts: for the controller's client certificate on every API call,
//   and for the controller's server certificate when the controller URL is https.
import crypto from "node:crypto";
import fsp from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { Readable } from "node:stream";
import tls from "node:tls";
import { keyProofMessage } from "../../../lib/schemas/agent-api";

export const TLS_DIR = "tls";
/** Subject CN of the controller's client certificate (lib/server/platform/pki.ts CONTROLLER_CN). */
export const CONTROLLER_CN = "polyarch-controller";
/** The controller's role SAN (pki.ts CONTROLLER_URI): the CA puts it only into controller certificates (ADR 025). */
export const CONTROLLER_URI = "urn:polyarch:controller";

/**
 * Whether a certificate (already verified against the cluster CA) is the controller's: CN, the role
 * SAN, and no host identity. A host certificate never passes — also one issued before ADR 025 whose
 * CN the agent chose ("polyarch-controller"): it lacks the role SAN.
 */
export function isControllerCertificate(cert: {
  subject?: { CN?: string | string[] };
  subjectaltname?: string;
}): boolean {
  const cn = cert.subject?.CN;
  const sans = (cert.subjectaltname ?? "").split(", ");
  return (
    (Array.isArray(cn) ? cn[0] : cn) === CONTROLLER_CN &&
    sans.includes(`URI:${CONTROLLER_URI}`) &&
    !sans.some((s) => s.startsWith("URI:urn:polyarch:host:"))
  );
}

export interface AgentKey {
  privateKeyPem: string;
  publicKeyPem: string;
}

export interface TlsMaterial {
  certPem: string;
  caPem: string;
}

export class TrustError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TrustError";
  }
}

/** SHA-256 of a PEM certificate's DER, lower-case hex without colons. */
export function fingerprintOf(pem: string): string {
  return normalizeFingerprint(new crypto.X509Certificate(pem).fingerprint256);
}

export function normalizeFingerprint(fp: string): string {
  return fp.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

async function writePrivate(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, data, { mode });
  await fsp.chmod(tmp, mode);
  await fsp.rename(tmp, file);
}

/** The agent's key pair: generated once, never leaves the state dir. */
export async function loadOrCreateKey(stateDir: string): Promise<AgentKey> {
  const dir = path.join(stateDir, TLS_DIR);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, "key.pem");
  let privateKeyPem: string;
  try {
    privateKeyPem = await fsp.readFile(file, "utf8");
    crypto.createPrivateKey(privateKeyPem);
  } catch {
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    privateKeyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await writePrivate(file, privateKeyPem, 0o600);
  }
  const publicKeyPem = crypto.createPublicKey(privateKeyPem).export({ type: "spki", format: "pem" }).toString();
  return { privateKeyPem, publicKeyPem };
}

/** The registration's proof of possession: a signature over keyProofMessage with the agent's key. */
export function keyProof(key: AgentKey, machineId: string, agentUrl: string): string {
  return crypto
    .sign("sha256", Buffer.from(keyProofMessage(machineId, agentUrl, key.publicKeyPem)), key.privateKeyPem)
    .toString("base64");
}

/** cert.pem + ca.pem, if present, signed by that CA and for this key (else null: register again). */
export async function loadTlsMaterial(stateDir: string, key: AgentKey): Promise<TlsMaterial | null> {
  try {
    const dir = path.join(stateDir, TLS_DIR);
    const certPem = await fsp.readFile(path.join(dir, "cert.pem"), "utf8");
    const caPem = await fsp.readFile(path.join(dir, "ca.pem"), "utf8");
    return checkIssuedTo(certPem, caPem, key) ? { certPem, caPem } : null;
  } catch {
    return null;
  }
}

export function checkIssuedTo(certPem: string, caPem: string, key: AgentKey): boolean {
  try {
    const cert = new crypto.X509Certificate(certPem);
    const ca = new crypto.X509Certificate(caPem);
    return (
      cert.checkIssued(ca) &&
      cert.verify(ca.publicKey) &&
      cert.checkPrivateKey(crypto.createPrivateKey(key.privateKeyPem)) &&
      new Date(cert.validTo) > new Date()
    );
  } catch {
    return false;
  }
}

export async function saveTlsMaterial(stateDir: string, m: TlsMaterial): Promise<void> {
  const dir = path.join(stateDir, TLS_DIR);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await writePrivate(path.join(dir, "ca.pem"), m.caPem, 0o644);
  await writePrivate(path.join(dir, "cert.pem"), m.certPem, 0o644);
}

/** How the agent decides which cluster CA to trust. */
export interface ControllerTrust {
  /** --controller-ca: this CA only */
  caPem?: string;
  /** --controller-fingerprint: the CA's SHA-256 fingerprint */
  caFingerprint?: string;
}

export async function readTrust(opts: {
  controllerCaFile?: string;
  controllerFingerprint?: string;
}): Promise<ControllerTrust> {
  const t: ControllerTrust = {};
  if (opts.controllerCaFile) {
    const pem = await fsp.readFile(opts.controllerCaFile, "utf8");
    try {
      const c = new crypto.X509Certificate(pem);
      if (!c.ca) throw new TrustError(`--controller-ca ${opts.controllerCaFile} is not a CA certificate`);
    } catch (e) {
      if (e instanceof TrustError) throw e;
      throw new TrustError(`--controller-ca ${opts.controllerCaFile} is not a PEM certificate`);
    }
    t.caPem = pem;
  }
  if (opts.controllerFingerprint) t.caFingerprint = normalizeFingerprint(opts.controllerFingerprint);
  if (t.caPem && t.caFingerprint && fingerprintOf(t.caPem) !== t.caFingerprint) {
    throw new TrustError("--controller-ca and --controller-fingerprint name different CAs");
  }
  return t;
}

/** The CA the registration answer carries must be the one we were told to trust (if we were told). */
export function checkRegisteredCa(trust: ControllerTrust, caPem: string): void {
  const fp = fingerprintOf(caPem);
  if (trust.caPem && fingerprintOf(trust.caPem) !== fp)
    throw new TrustError(`the controller's CA (${fp.slice(0, 16)}…) is not the one given with --controller-ca`);
  if (trust.caFingerprint && trust.caFingerprint !== fp)
    throw new TrustError(
      `the controller's CA (${fp.slice(0, 16)}…) does not match --controller-fingerprint ${trust.caFingerprint.slice(0, 16)}…`,
    );
}

/**
 * Server options for the agent API: our certificate, and client certificates must chain to the
 * cluster CA and name the controller. Anything else fails the handshake.
 */
export function serverSecureContext(key: AgentKey, m: TlsMaterial): tls.SecureContextOptions {
  return { key: key.privateKeyPem, cert: m.certPem, ca: m.caPem };
}

export const SERVER_TLS_OPTIONS: https.ServerOptions = {
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: "TLSv1.2",
};

/** After the handshake: only the controller's certificate may call (another host's certificate chains to the same CA). */
export function isControllerPeer(socket: tls.TLSSocket): boolean {
  const cert = socket.getPeerCertificate();
  return socket.authorized && !!cert && isControllerCertificate(cert);
}

/** For https calls to the controller: the usual name check, then the controller's role (never a host's certificate). */
export function checkControllerServer(host: string, cert: tls.PeerCertificate): Error | undefined {
  const err = tls.checkServerIdentity(host, cert);
  if (err) return err;
  if (!isControllerCertificate(cert))
    return new TrustError(
      `the server at ${host} presented a certificate of the cluster CA that is not the controller's (no ${CONTROLLER_URI})`,
    );
  return undefined;
}

/** Reads the certificate chain an https server presents, without trusting it (to find a pinned CA in it). */
export function presentedChain(url: URL, timeoutMs = 10_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const sock = tls.connect(
      {
        host,
        port: Number(url.port || 443),
        servername: /^[\d.:]+$/.test(host) ? undefined : host,
        rejectUnauthorized: false,
      },
      () => {
        const out: string[] = [];
        let c: tls.DetailedPeerCertificate | undefined = sock.getPeerCertificate(true);
        const seen = new Set<string>();
        while (c && c.raw && !seen.has(c.fingerprint256)) {
          seen.add(c.fingerprint256);
          out.push(
            `-----BEGIN CERTIFICATE-----\n${c.raw
              .toString("base64")
              .replace(/(.{64})/g, "$1\n")
              .trim()}\n-----END CERTIFICATE-----\n`,
          );
          c = c.issuerCertificate;
        }
        sock.end();
        resolve(out);
      },
    );
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error("TLS handshake timed out")));
    sock.on("error", reject);
  });
}

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * fetch for calls to the controller. http: the global fetch. https: node:https with `ca` as the
 * only trust anchor (or the system store when null: only before the first join without any
 * --controller-* flag), our certificate as client certificate when we have one.
 */
export function controllerFetch(getTls: () => { ca: string | null; cert?: string; key?: string }): FetchLike {
  return async (input, init = {}) => {
    const url = new URL(String(input));
    if (url.protocol !== "https:") return fetch(url, init);
    const t = getTls();
    return new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const req = https.request(url, {
        method: init.method ?? "GET",
        headers,
        agent: false,
        minVersion: "TLSv1.2",
        // Our cluster CA also signs host certificates: only the controller's may answer (ADR 025).
        ...(t.ca ? { ca: t.ca, checkServerIdentity: checkControllerServer } : {}),
        ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
      });
      const signal = init.signal;
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("response", (res: http.IncomingMessage) => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers))
          if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(", ") : v);
        const status = res.statusCode ?? 502;
        const nullBody = status === 204 || status === 304 || (init.method ?? "GET") === "HEAD";
        if (nullBody) res.resume();
        resolve(
          new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers: h }),
        );
      });
      req.on("error", (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(new TypeError("fetch failed", { cause: e }));
      });
      req.on("close", () => signal?.removeEventListener("abort", onAbort));
      if (init.body !== undefined && init.body !== null)
        req.end(typeof init.body === "string" ? init.body : Buffer.from(init.body as ArrayBuffer));
      else req.end();
    });
  };
}

/**
 * The agent's TLS state: its key, the trust it was configured with, and (after registration) its
 * certificate + the cluster CA. `onChange` runs whenever a new certificate is installed (the API
 * server swaps its secure context).
 */
export class AgentTls {
  material: TlsMaterial | null = null;
  private bootstrapCa: string | null = null;
  onChange: ((m: TlsMaterial) => void) | null = null;
  readonly fetch: FetchLike;

  constructor(
    readonly key: AgentKey,
    readonly trust: ControllerTrust,
  ) {
    this.fetch = controllerFetch(() => this.connectionTls());
  }

  /** What a connection to the controller trusts and presents now (controllerFetch, ControllerTransport). */
  connectionTls(): { ca: string | null; cert?: string; key?: string } {
    return { ca: this.trustedCa(), cert: this.material?.certPem, key: this.key.privateKeyPem };
  }

  static async open(stateDir: string, trust: ControllerTrust): Promise<AgentTls> {
    const t = new AgentTls(await loadOrCreateKey(stateDir), trust);
    const m = await loadTlsMaterial(stateDir, t.key);
    // A stored CA that is not the configured one is ignored: the agent registers again.
    if (m && t.caAllowed(m.caPem)) t.material = m;
    return t;
  }

  caAllowed(caPem: string): boolean {
    try {
      checkRegisteredCa(this.trust, caPem);
      return true;
    } catch {
      return false;
    }
  }

  /** The only CA for the controller's server certificate; null = system store (first join, no flags). */
  trustedCa(): string | null {
    return this.trust.caPem ?? this.material?.caPem ?? this.bootstrapCa;
  }

  /**
   * Before the first join with only --controller-fingerprint and an https controller: take the CA
   * with that fingerprint from the chain the controller presents (then verify against it as usual).
   */
  async prepareFor(controllerUrl: string): Promise<void> {
    const url = new URL(controllerUrl);
    if (url.protocol !== "https:" || this.trustedCa() || !this.trust.caFingerprint) return;
    const chain = await presentedChain(url);
    const ca = chain.find((pem) => fingerprintOf(pem) === this.trust.caFingerprint);
    if (!ca)
      throw new TrustError(
        `the controller at ${url.origin} does not present the CA with fingerprint ${this.trust.caFingerprint.slice(0, 16)}… (--controller-fingerprint)`,
      );
    this.bootstrapCa = ca;
  }

  /** Checks and keeps the certificate + CA from a registration answer. */
  async install(stateDir: string, certPem: string, caPem: string): Promise<void> {
    checkRegisteredCa(this.trust, caPem);
    // Trust on first use sticks, like ssh's known_hosts: a controller with another CA is refused.
    if (
      !this.trust.caPem &&
      !this.trust.caFingerprint &&
      this.material &&
      fingerprintOf(this.material.caPem) !== fingerprintOf(caPem)
    ) {
      throw new TrustError(
        `the controller now sends another CA (${fingerprintOf(caPem).slice(0, 16)}…) than the one trusted at the first join; ` +
          `if that is intended, delete ${path.join(stateDir, TLS_DIR, "ca.pem")} or pass --controller-ca / --controller-fingerprint`,
      );
    }
    if (!checkIssuedTo(certPem, caPem, this.key))
      throw new TrustError(
        "the certificate in the registration answer is not for this agent's key or not signed by the CA sent with it",
      );
    const m = { certPem, caPem };
    await saveTlsMaterial(stateDir, m);
    this.material = m;
    this.onChange?.(m);
  }
}
