// The one yes/no field of the request schemas. Never z.coerce.boolean(): it makes every non-empty
// string true, so `"allowEmulation": "false"` would turn emulation on.
import { z } from "zod";

/** Text forms a client may send for a checkbox or a query flag ("on" is what an HTML checkbox posts). */
export const BOOLEAN_TRUE_STRINGS = ["true", "on", "1"] as const;
export const BOOLEAN_FALSE_STRINGS = ["false", "0"] as const;
const TEXT = [...BOOLEAN_TRUE_STRINGS, ...BOOLEAN_FALSE_STRINGS] as const;

/**
 * A strict boolean: true / false, or the exact strings "true", "on", "1" (true) and "false", "0"
 * (false). Anything else — "yes", "False", "", 2, null — is a validation error naming the field.
 */
export function booleanField(name: string) {
  const message = `${name} must be true or false (a boolean, or the text "true"/"false")`;
  return z.union(
    [z.boolean(), z.enum(TEXT).transform((v) => (BOOLEAN_TRUE_STRINGS as readonly string[]).includes(v))],
    { error: message },
  );
}
