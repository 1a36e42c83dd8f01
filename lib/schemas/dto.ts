// Building blocks of the JSON API's response schemas (the `…DtoSchema`s in lib/schemas). Each shape
// is written once, as zod:
// - z.input<typeof xDtoSchema> is what a server mapper hands over (Dates allowed): mappers
//   `satisfies` it, so a field the schema lacks, or one it requires, fails to compile;
// - z.output (z.infer) is what travels after toJsonSafe (ISO strings): clients infer their types
//   from it, and lib/openapi.ts documents it.
import { z } from "zod";

/** A point in time: Date (or an ISO string) on the server, an ISO 8601 UTC string on the wire. */
export const timestamp = z
  .union([z.date(), z.string()])
  .transform((v) => (v instanceof Date ? v.toISOString() : v))
  .pipe(z.iso.datetime())
  .describe("ISO 8601 timestamp (UTC)");

/** One page of a paginated list (lib/schemas/list.ts: ListResult). */
export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int(), page: z.number().int(), pageSize: z.number().int() });

/** A non-paginated collection: `{items}`, with `total` where the endpoint reports it. */
export const itemsOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

/** Every error answer of the API: `{error: {code, message}}` (lib/errors.ts AppError codes). */
export const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** `{id, deleted: true}`: what a DELETE answers. */
export const deletedSchema = z.object({ id: z.string(), deleted: z.literal(true) });

/**
 * The value as the JSON API sends it (Dates → ISO strings, BigInt → number), typed as the schema's
 * output: server actions hand client components exactly what the API route would.
 */
export function toWire<S extends z.ZodType>(_schema: S, value: z.input<S>): z.output<S> {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v)));
}
