import { describe, expect, it } from "vitest";
import { safeNext } from "./safe-next";

describe("safeNext", () => {
  it.each([
    ["/"],
    ["/vms"],
    ["/vms?x=1"],
    ["/vms?arch=arm64&status=running"],
    ["/vms/abc123#console"],
    ["/images?q=debian%2012"],
    ["/hosts/h1/metrics?minutes=60"],
  ])("keeps the same-origin path %s", (path) => {
    expect(safeNext(path)).toBe(path);
  });

  it.each([
    ["/\\evil.example (what /login?next=/%5Cevil.example decodes to)", "/\\evil.example"],
    ["percent-encoded backslash", "/%5Cevil.example"],
    ["lower-case encoded backslash", "/%5cevil.example"],
    ["double-encoded backslash", "/%255Cevil.example"],
    ["protocol-relative", "//evil.example"],
    ["protocol-relative with a path", "//evil.example/vms"],
    ["backslash pair", "\\\\evil"],
    ["slash backslash", "/\\\\evil"],
    ["encoded slashes", "/%2F%2Fevil"],
    ["one encoded slash", "/%2Fevil.example"],
    ["absolute https URL", "https://evil"],
    ["absolute http URL", "http://evil.example/vms"],
    ["javascript: URL", "javascript:alert(document.cookie)"],
    ["encoded javascript: URL", "javascript%3Aalert(1)"],
    ["data: URL", "data:text/html,<script>alert(1)</script>"],
    ["relative path", "vms"],
    ["tab inside //", "/\t/evil.example"],
    ["newline inside //", "/\n/evil.example"],
    ["carriage return", "/\r/evil.example"],
    ["encoded tab", "/%09/evil.example"],
    ["encoded newline", "/%0A/evil.example"],
    ["NUL", "/vms\u0000"],
    ["backslash later in the path", "/vms\\..\\evil"],
    ["malformed escape", "/vms?q=100%"],
    ["empty", ""],
    ["whitespace only", "  "],
    ["leading space", " /vms"],
  ])("refuses %s", (_name, path) => {
    expect(safeNext(path)).toBe("/");
  });

  it.each([[undefined], [null], [42], [["/vms", "//evil"]], [{}]])("refuses the non-string %j", (value) => {
    expect(safeNext(value)).toBe("/");
  });

  it("refuses an absurdly long target", () => {
    expect(safeNext("/" + "a".repeat(5000))).toBe("/");
  });
});
