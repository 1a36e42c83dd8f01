// The wizard's on-demand checks say what the server says (lib/schemas), word for word.
import { describe, expect, it } from "vitest";
import { cpuModelSchema } from "@/lib/schemas/agent-api";
import { createVmSchema } from "@/lib/schemas/vms";
import { cpuModelError, loginErrors, nameError } from "./vm-create-checks";
import { EMPTY_LOGIN, loginRequest } from "./vm-wizard-login-request";

const firstIssue = (r: { success: boolean; error?: { issues: { message: string }[] } }) =>
  r.success ? null : r.error!.issues[0]!.message;

describe("vm-create-checks", () => {
  const serverIssue = (body: Record<string, unknown>, field: string) => {
    const r = createVmSchema.safeParse({
      name: "n",
      arch: "x86_64",
      imageId: "i",
      vcpus: 1,
      memoryMb: 64,
      diskGb: 1,
      ...body,
    });
    return r.success ? null : (r.error.issues.find((i) => i.path[0] === field)?.message ?? null);
  };

  it("accepts display names in any script and reports a bad one in the server's words", () => {
    expect(nameError("")).toBeNull();
    for (const good of ["web-01.example", "has space", "数据库 主节点", "ünï"])
      expect(nameError(good), good).toBeNull();
    for (const bad of ["x".repeat(64), "a\tb", "a\u202eb", "   "]) {
      expect(nameError(bad), bad).not.toBeNull();
      expect(nameError(bad)).toBe(serverIssue({ name: bad }, "name"));
    }
  });

  it("checks the login fields as the server does; only filled ones go into the request", () => {
    expect(loginErrors(EMPTY_LOGIN, false)).toEqual({ hostname: null, password: null, sshKey: null });
    const bad = { hostname: "-x-", password: "short", sshKey: "ssh-ed25519 nope" };
    const errors = loginErrors(bad, false);
    for (const field of ["hostname", "password", "sshKey"] as const) {
      expect(errors[field], field).not.toBeNull();
      expect(errors[field]).toBe(serverIssue({ [field]: bad[field] }, field));
    }
    const both = { ...EMPTY_LOGIN, password: "long enough 1" };
    expect(loginErrors(both, true).password).toBe(
      serverIssue({ password: both.password, userData: "#!/bin/sh\n" }, "password"),
    );
    expect(loginRequest({ hostname: " db-1 ", password: "", sshKey: "  " })).toEqual({ hostname: "db-1" });
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
