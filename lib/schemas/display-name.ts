import { z } from "zod";
import { HOSTNAME_MAX, HOSTNAME_RE } from "../hostname";

// Names people read (VMs, networks, projects): any script — 数据库服务器, Сервер-1, web (prod) — but no
// control characters and no bidirectional overrides, which make one name render as another
// (Trojan Source; a VM list is where an operator picks what to delete). NFC-normalised so the same
// name typed on two keyboards compares equal; counted in code points, not UTF-16 units.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

export function displayNameSchema(max: number, what = "name") {
  return z
    .string({ error: `${what} is required` })
    .transform((v) => v.normalize("NFC").trim())
    .pipe(
      z
        .string()
        .min(1, `${what} is required`)
        .refine((v) => [...v].length <= max, `${what} is at most ${max} characters`)
        .refine((v) => !CONTROL.test(v), `${what} may not contain control characters (tabs, line breaks)`)
        .refine((v) => !BIDI.test(v), `${what} may not contain bidirectional-override characters`),
    );
}

/** A VM's display name (63 code points, like the hostname it used to be). */
export const vmDisplayNameSchema = displayNameSchema(HOSTNAME_MAX);

/** A guest hostname someone typed (the derived one satisfies it by construction, lib/hostname.test.ts). */
export const hostnameSchema = z
  .string()
  .trim()
  .min(1, "hostname is required")
  .max(HOSTNAME_MAX, `hostname is at most ${HOSTNAME_MAX} characters`)
  .regex(
    HOSTNAME_RE,
    "hostname may contain letters, digits and '-' in labels separated by '.', and no label may start or end with '-'",
  );
