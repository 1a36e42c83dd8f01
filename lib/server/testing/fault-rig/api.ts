// The console API as a fault test's user calls it: an admin API token (Bearer, no cookie, so no
// same-origin dance), every request with a deadline — a request that hangs is a finding, not a
// stuck test.
import { db } from "../../platform";
import { createToken } from "../../identity";
import { ADMIN } from "./controller";

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
  ms: number;
}

/** status 0: no answer (connection refused, reset, or the deadline passed) — `error` says which. */
export type MaybeAnswer<T = unknown> = ApiAnswer<T> & { error?: string };

export class Api {
  private constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  /** An API token for the first admin (the controller created it at start from ADMIN). */
  static async asAdmin(baseUrl: string): Promise<Api> {
    const admin = await db().user.findUniqueOrThrow({ where: { email: ADMIN.email } });
    const actor = {
      id: admin.id,
      email: admin.email,
      name: admin.name,
      role: "admin" as const,
      via: "session" as const,
    };
    const { token } = await createToken(actor, "fault-rig", 1, null);
    return new Api(baseUrl, token);
  }

  /** One request; never throws: a dead controller answers status 0. */
  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 30_000,
  ): Promise<MaybeAnswer<T>> {
    const started = performance.now();
    try {
      const res = await fetch(this.baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.status, body: parsed as T, ms: performance.now() - started };
    } catch (e) {
      const error = e instanceof Error ? `${e.name}: ${e.message}${e.cause ? ` (${String(e.cause)})` : ""}` : String(e);
      return { status: 0, body: null as T, ms: performance.now() - started, error };
    }
  }

  /** Like call(), but fails unless the status is `want`. */
  async expect<T = Record<string, unknown>>(want: number, method: string, path: string, body?: unknown): Promise<T> {
    const a = await this.call<T>(method, path, body);
    if (a.status !== want)
      throw new Error(`${method} ${path}: wanted ${want}, got ${a.status} ${a.error ?? JSON.stringify(a.body)}`);
    return a.body;
  }

  /** The id of the ready demo image of `arch` (registered at start from .cache/fixtures). */
  async demoImage(arch: "x86_64" | "aarch64"): Promise<string> {
    const { items } = await this.expect<{ items: { id: string; status: string }[] }>(
      200,
      "GET",
      `/api/v1/images?arch=${arch}&q=busybox-demo`,
    );
    const ready = items.find((i) => i.status === "ready");
    if (!ready) throw new Error(`no ready ${arch} busybox-demo image: ${JSON.stringify(items)}`);
    return ready.id;
  }
}
