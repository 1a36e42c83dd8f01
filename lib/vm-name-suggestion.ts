// The wizard's suggested VM name (issue 17): from the image (its family, else its name) and the arch,
// plus a short random suffix so two people creating from the same image do not collide. It always
// satisfies vmNameSchema (letters, digits, '.', '-'; starts with a letter or digit; ≤ 63) and is a
// DNS label, so it also works as the guest hostname. Zod-free: the wizard's first-load JS (ADR 047).

const ARCH_TAG: Record<string, string> = { x86_64: "x86", aarch64: "arm" };
const MAX_BASE = 40;

/** "busybox-demo" + x86_64 + "k3f9" → "busybox-demo-x86-k3f9"; a base with nothing usable → "vm-x86-k3f9". */
export function suggestVmName(base: string | null | undefined, arch: string, suffix: string): string {
  const cleaned = (base ?? "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, MAX_BASE)
    .replace(/-$/, "");
  const tag = ARCH_TAG[arch] ?? "vm";
  const stem = cleaned.replace(new RegExp(`-(${Object.values(ARCH_TAG).join("|")})$`), "") || "vm";
  const tail = suffix
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "")
    .slice(0, 6);
  return [stem, tag, tail].filter(Boolean).join("-");
}

/** Four random base-36 characters (not security-relevant: only to make collisions unlikely). */
export function nameSuffix(random: () => number = Math.random): string {
  return Array.from({ length: 4 }, () => Math.floor(random() * 36).toString(36)).join("");
}
