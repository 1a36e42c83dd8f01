import { describe, expect, it } from "vitest";
import { z } from "zod";
import { booleanField } from "./boolean";
import { createVmSchema } from "./vms";

describe("booleanField", () => {
  const schema = z.object({ flag: booleanField("flag").default(false) });

  it.each([
    [true, true],
    [false, false],
    ["true", true],
    ["false", false],
    ["on", true],
    ["1", true],
    ["0", false],
    [undefined, false],
  ])("%j → %s", (input, expected) => {
    expect(schema.parse({ flag: input }).flag).toBe(expected);
  });

  it.each([["yes"], ["no"], ["off"], ["False"], ["TRUE"], [""], [" true"], [1], [0], [null], [{}], [[]]])(
    "refuses %j with a message naming the field",
    (input) => {
      const r = schema.safeParse({ flag: input });
      expect(r.success).toBe(false);
      expect(r.error!.issues).toHaveLength(1);
      expect(r.error!.issues[0]!.path).toEqual(["flag"]);
      expect(r.error!.issues[0]!.message).toBe('flag must be true or false (a boolean, or the text "true"/"false")');
    },
  );

  it("documents its input as a boolean or one of the accepted strings", () => {
    const json = z.toJSONSchema(booleanField("flag"), { io: "input" }) as {
      anyOf: { type: string; enum?: string[] }[];
    };
    expect(json.anyOf.map((s) => s.type)).toEqual(["boolean", "string"]);
    expect([...json.anyOf[1]!.enum!].sort()).toEqual(["0", "1", "false", "on", "true"]);
  });
});

describe("createVmSchema allowEmulation", () => {
  const base = { name: "web-1", arch: "aarch64", imageId: "img-1", vcpus: 1, memoryMb: 256, diskGb: 1 };

  it('"false" as text means false (z.coerce.boolean() made it true)', () => {
    expect(createVmSchema.parse({ ...base, allowEmulation: "false" }).allowEmulation).toBe(false);
    expect(createVmSchema.parse({ ...base, allowEmulation: "0" }).allowEmulation).toBe(false);
  });

  it("booleans and the true texts are kept; absent is false", () => {
    expect(createVmSchema.parse({ ...base, allowEmulation: true }).allowEmulation).toBe(true);
    expect(createVmSchema.parse({ ...base, allowEmulation: false }).allowEmulation).toBe(false);
    expect(createVmSchema.parse({ ...base, allowEmulation: "true" }).allowEmulation).toBe(true);
    expect(createVmSchema.parse({ ...base, allowEmulation: "on" }).allowEmulation).toBe(true);
    expect(createVmSchema.parse(base).allowEmulation).toBe(false);
  });

  it.each([["yes"], ["no"], [""], [2]])("refuses %j instead of guessing", (value) => {
    const r = createVmSchema.safeParse({ ...base, allowEmulation: value });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toContain(
      'allowEmulation: allowEmulation must be true or false (a boolean, or the text "true"/"false")',
    );
  });
});
