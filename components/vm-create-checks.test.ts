// The wizard's on-demand checks say what the server says (lib/schemas/agent-api.ts), word for word.
import { describe, expect, it } from "vitest";
import { cpuModelSchema, vmNameSchema } from "@/lib/schemas/agent-api";
import { cpuModelError, nameError } from "./vm-create-checks";

const firstIssue = (r: { success: boolean; error?: { issues: { message: string }[] } }) =>
  r.success ? null : r.error!.issues[0]!.message;

describe("vm-create-checks", () => {
  it("accepts good names and reports a bad one in the server's words", () => {
    expect(nameError("")).toBeNull();
    expect(nameError("web-01.example")).toBeNull();
    for (const bad of ["-lead", "has space", "x".repeat(64), "ünï"]) {
      expect(nameError(bad), bad).not.toBeNull();
      expect(nameError(bad)).toBe(firstIssue(vmNameSchema.safeParse(bad)));
    }
  });

  it("treats an empty CPU model as the default and reports a bad one as the server does", () => {
    expect(cpuModelError("")).toBeNull();
    expect(cpuModelError("  ")).toBeNull();
    expect(cpuModelError(" Skylake-Server ")).toBeNull();
    for (const bad of ["bad model", "-x", "m".repeat(65)]) {
      expect(cpuModelError(bad), bad).not.toBeNull();
      expect(cpuModelError(bad)).toBe(firstIssue(cpuModelSchema.safeParse(bad.trim())));
    }
  });
});
