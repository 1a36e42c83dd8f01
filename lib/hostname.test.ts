import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HOSTNAME_RE, hostnameFromName } from "./hostname";
import { vmNameSchema } from "./schemas/agent-api";
import { displayNameSchema } from "./schemas/display-name";

describe("hostnameFromName", () => {
  it.each([
    ["web-1", "web-1"],
    ["Web-1", "Web-1"],
    ["web-", "web"],
    ["a.-b.c", "a.b.c"],
    ["---", "vm"],
    ["数据库服务器01", "shujukufuwuqi01"],
    ["web 前端 (prod)", "web-qianduan-prod"],
    ["Сервер-1", "server-1"],
    ["Ελλάδα", "ellada"],
    ["café.example", "cafe.example"],
    ["🙂", "slight-smile"],
    ["—", "vm"],
  ])("%s → %s", (name, hostname) => {
    expect(hostnameFromName(name)).toBe(hostname);
  });

  it("always gives a hostname the agent and resolvers accept, for any display name", () => {
    const schema = displayNameSchema(63);
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 63 }), (raw) => {
        const parsed = schema.safeParse(raw);
        if (!parsed.success) return;
        const h = hostnameFromName(parsed.data);
        expect(h).toMatch(HOSTNAME_RE);
        expect(h.length).toBeLessThanOrEqual(63);
        expect(vmNameSchema.safeParse(h).success).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe("displayNameSchema", () => {
  const schema = displayNameSchema(8);
  it("takes any script, trims and NFC-normalises", () => {
    expect(schema.parse("  数据库  ")).toBe("数据库");
    expect(schema.parse("Cafe\u0301")).toBe("Café");
  });
  it("counts code points, not UTF-16 units", () => {
    expect(schema.safeParse("𠀀𠀀𠀀𠀀𠀀𠀀𠀀𠀀").success).toBe(true);
    expect(schema.safeParse("123456789").success).toBe(false);
  });
  it.each([
    ["", "name is required"],
    ["   ", "name is required"],
    ["a\tb", "control characters"],
    ["a\u202eb", "bidirectional-override"],
  ])("refuses %j (%s)", (raw, message) => {
    const r = schema.safeParse(raw);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.message).toContain(message);
  });
});
