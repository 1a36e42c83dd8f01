// A DNS-safe guest hostname from a VM's display name (issue 17): VMs are named in any script, while
// cloud-init, the agent and resolvers need RFC 1123 labels. Other scripts are transliterated with
// any-ascii (数据库服务器01 → shujukufuwuqi01, Сервер → server); the hostname stays editable.
import anyAscii from "any-ascii";

/** RFC 1123: dot-separated labels of letters, digits and '-', neither end a '-'; 63 in all (the agent's limit). */
export const HOSTNAME_RE = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/;
export const HOSTNAME_MAX = 63;

/** Names that already were valid VM names (before display names) keep their case and characters. */
const LEGACY_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

function cleanLabels(text: string): string {
  const labels = text
    .split(".")
    .map((l) =>
      l
        .replace(/[^A-Za-z0-9-]/g, "")
        .replace(/^-+|-+$/g, "")
        .slice(0, HOSTNAME_MAX)
        .replace(/-+$/, ""),
    )
    .filter(Boolean);
  return (
    labels
      .join(".")
      .slice(0, HOSTNAME_MAX)
      .replace(/[.-]+$/, "") || "vm"
  );
}

export function hostnameFromName(name: string): string {
  const trimmed = name.normalize("NFC").trim();
  if (LEGACY_NAME.test(trimmed)) return cleanLabels(trimmed);
  // Anything else: romanise, lower-case, and let every run of other characters become one '-'.
  const ascii = anyAscii(trimmed.normalize("NFKC")).toLowerCase();
  return cleanLabels(ascii.replace(/[^a-z0-9.-]+/g, "-").replace(/-{2,}/g, "-"));
}
