// Where to send a user after sign-in (`/login?next=…`): only a path on this origin, never elsewhere.

const FALLBACK = "/";
/** C0 controls, DEL and the backslash: browsers drop tabs/newlines and read "\" as "/" in URLs. */
const UNSAFE_CHAR = /[\u0000-\u001f\u007f\\]/;
const ORIGIN = "http://polyarch.invalid";

/**
 * `raw` when it is a same-origin relative path, else "/". It must start with exactly one "/" (not
 * "//" nor "/\", which browsers follow to another host), carry no control characters or
 * backslashes, and stay so after percent-decoding (`/%2F%2Fevil`, `/%5Cevil`); a target that does
 * not decode cleanly is refused too. Query and fragment are kept (`/vms?arch=arm64`).
 */
export function safeNext(raw: unknown): string {
  if (typeof raw !== "string" || raw.length === 0 || raw.length > 2048) return FALLBACK;
  let decoded = raw;
  // Decode until stable (double encoding: %255C → %5C → \), checking every form on the way.
  for (let round = 0; ; round++) {
    if (!isSafePath(decoded)) return FALLBACK;
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      return FALLBACK; // a malformed escape: nothing sensible to send the user to
    }
    if (next === decoded) break;
    if (round === 3) return FALLBACK;
    decoded = next;
  }
  // What a browser would do with it, as a last word: it must stay on this origin.
  try {
    if (new URL(raw, ORIGIN).origin !== ORIGIN) return FALLBACK;
  } catch {
    return FALLBACK;
  }
  return raw;
}

function isSafePath(path: string): boolean {
  return path.startsWith("/") && !path.startsWith("//") && !UNSAFE_CHAR.test(path);
}
