// The image-root audit of the smoke run (scripts/images/smoke.mjs) on small trees laid out like the images.
import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { auditImageRoot } from "./image-audit.mjs";

let root = "";
afterEach(() => rmSync(root, { recursive: true, force: true }));

function tree(files: string[]): string {
  root = mkdtempSync(join(tmpdir(), "image-audit-"));
  for (const f of files) {
    mkdirSync(f.endsWith("/") ? join(root, f) : dirname(join(root, f)), { recursive: true });
    if (!f.endsWith("/")) writeFileSync(join(root, f), "x");
  }
  return root;
}

const CLEAN_CONTROLLER = [
  "app/dist/server.mjs",
  "app/node_modules/better-sqlite3/build/Release/better_sqlite3.node",
  "app/node_modules/some-lib/test/fixtures/a.json", // a dependency's own files are not ours to judge
  "etc/ssl/certs/ca-certificates.crt",
  "etc/ssl/certs/ISRG_Root_X1.pem",
  "var/lib/polyarch/",
];

describe("auditImageRoot", () => {
  it("accepts a clean controller root", () => {
    expect(auditImageRoot(tree(CLEAN_CONTROLLER), "controller")).toEqual([]);
  });

  it.each([
    ["app/data/polyarch.db", /data\/ does not belong|test file or data/],
    ["app/.env", /environment file/],
    ["app/e2e/console.spec.ts", /e2e\/ does not belong/],
    ["app/scripts/fixtures/build.sh", /fixtures\/ does not belong/],
    ["app/lib/x.test.ts", /test file or data/],
    ["app/.next/cache/images/a", /\.next\/cache/],
    ["etc/polyarch/tls.key", /private key/],
    ["root/ca.pem", /PEM outside the CA bundle/],
    ["var/lib/polyarch/polyarch.db", /\/var\/lib\/polyarch is not empty/],
  ])("refuses %s", (bad, message) => {
    const problems = auditImageRoot(tree([...CLEAN_CONTROLLER, bad]), "controller");
    expect(problems.join("\n")).toMatch(message);
  });

  it("files a Debian package installed are the distribution's (qemu-efi-aarch64's snakeoil key), not ours", () => {
    const files = ["opt/polyarch/agent.mjs", "usr/share/qemu-efi-aarch64/PkKek-1-snakeoil.key", "var/lib/dpkg/info/"];
    tree(files);
    expect(auditImageRoot(root, "agent").join("\n")).toMatch(/snakeoil\.key: private key/);
    writeFileSync(
      join(root, "var/lib/dpkg/info/qemu-efi-aarch64.list"),
      "/usr/share/qemu-efi-aarch64/PkKek-1-snakeoil.key\n",
    );
    expect(auditImageRoot(root, "agent")).toEqual([]);
  });

  it("an agent root needs /opt/polyarch", () => {
    expect(auditImageRoot(tree(["usr/bin/qemu-img"]), "agent")).toEqual(["/opt/polyarch missing"]);
  });
});
