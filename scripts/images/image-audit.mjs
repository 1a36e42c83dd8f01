// What must not be in a Polyarch image, checked on the image's root filesystem: the repository's test
// fixtures and tests, data/ (SQLite, PKI, uploads), secrets (.env, private keys), build state.
import fs from "node:fs";
import path from "node:path";

/** Where the application lives in each image. */
const APP_DIRS = { controller: ["app"], agent: ["opt/polyarch"] };
/** Certificate bundles the distribution ships (public certificates only). */
const CERT_DIRS = ["etc/ssl/certs", "usr/share/ca-certificates", "usr/lib/ssl", "etc/ca-certificates"];

function* walk(root, rel = "") {
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    yield { p, dir: e.isDirectory() };
    if (e.isDirectory() && !e.isSymbolicLink() && !["proc", "sys", "dev"].includes(p)) yield* walk(root, p);
  }
}

/** Files Debian packages installed (e.g. the snakeoil test keys of qemu-efi-aarch64): the distribution's, not ours. */
function packagedFiles(root) {
  const dir = path.join(root, "var/lib/dpkg/info");
  const files = new Set();
  if (!fs.existsSync(dir)) return files;
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".list")))
    for (const line of fs.readFileSync(path.join(dir, f), "utf8").split("\n")) if (line) files.add(line.slice(1));
  return files;
}

/** Problems found in the root of an image of `kind` (controller | agent); empty when clean. */
export function auditImageRoot(root, kind) {
  const problems = [];
  const packaged = packagedFiles(root);
  const apps = APP_DIRS[kind];
  for (const d of apps) if (!fs.existsSync(path.join(root, d))) problems.push(`/${d} missing`);
  for (const { p, dir } of walk(root)) {
    const base = path.basename(p);
    const inApp = apps.some((d) => p === d || p.startsWith(`${d}/`));
    const inDeps = /(^|\/)node_modules\//.test(p);
    if (/^(\.env|.*\.env)$|^\.env\./.test(base)) problems.push(`/${p}: environment file`);
    const ours = !packaged.has(p);
    if (/\.key$|^id_(rsa|ed25519|ecdsa)$/.test(base) && !dir && ours) problems.push(`/${p}: private key`);
    if (/\.pem$/.test(base) && !dir && !CERT_DIRS.some((c) => p.startsWith(`${c}/`)) && !inDeps && ours)
      problems.push(`/${p}: PEM outside the CA bundle`);
    if (!inApp || inDeps) continue;
    if (
      dir &&
      (["data", ".cache", ".git", "e2e", "fixtures", "test-results"].includes(base) || p.endsWith(".next/cache"))
    )
      problems.push(`/${p}/: ${base}/ does not belong in an image`);
    if (!dir && /\.(int\.)?test\.[cm]?[jt]sx?$|\.spec\.[jt]s$|\.(qcow2|sqlite|db)$/.test(base))
      problems.push(`/${p}: test file or data`);
  }
  const data = { controller: "var/lib/polyarch", agent: "var/lib/polyarch-agent" }[kind];
  if (fs.existsSync(path.join(root, data)) && fs.readdirSync(path.join(root, data)).length)
    problems.push(`/${data} is not empty in the image`);
  return problems;
}
