// Loading the message catalogue (ADR 051): messages/<locale>/<namespace>.json, one file per
// namespace, so several people can own separate files. A file holds the namespace's body (no
// wrapper key); its name is the namespace: messages/en/nav.json {"hosts": "Hosts"} → t("nav.hosts").
// Plain Node (fs), server side only: the request config, the parity test and scripts all read it the same way.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import compile from "icu-minify/compile";
import type { Locale } from "@/lib/i18n/locales";

export type MessageTree = { [key: string]: string | MessageTree };

const NAMESPACE_FILE = /^([a-z][a-zA-Z0-9-]*)\.json$/;

export function messagesDir(root = process.cwd()): string {
  return join(root, "messages");
}

/** Every namespace file of one locale merged into one tree keyed by namespace (file name). */
export function readMessages(locale: Locale, dir = messagesDir()): MessageTree {
  const tree: MessageTree = {};
  for (const file of readdirSync(join(dir, locale)).sort()) {
    const ns = NAMESPACE_FILE.exec(file)?.[1];
    if (!ns) throw new Error(`messages/${locale}/${file}: a namespace file is named <namespace>.json`);
    const body: unknown = JSON.parse(readFileSync(join(dir, locale, file), "utf8"));
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      throw new Error(`messages/${locale}/${file}: the file must hold one JSON object`);
    }
    tree[ns] = body as MessageTree;
  }
  return tree;
}

/**
 * The tree with every message compiled by icu-minify (issue 16): what the request config hands to
 * next-intl, whose use-intl/format-message is aliased to the format-only runtime in next.config.mjs so the
 * browser never loads the ICU parser. Same parser (@formatjs) as intl-messageformat, so the same syntax and
 * escaping; a message that does not parse throws here, once per process, instead of at render time.
 */
export function compileMessages(tree: MessageTree, prefix = ""): MessageTree {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value !== "string") out[key] = compileMessages(value, path);
    else {
      try {
        // A JSON round trip: compile's plural/select options have a null prototype, which React will not
        // pass to client components (NextIntlClientProvider) until they are plain objects.
        out[key] = JSON.parse(JSON.stringify(compile(value))) as unknown;
      } catch (e) {
        throw new Error(`message ${path}: ${(e as Error).message}`);
      }
    }
  }
  // Compiled messages are strings or JSON arrays; next-intl passes them through untouched.
  return out as MessageTree;
}

/** Dotted keys of every message in a tree ("nav.hosts"), for parity checks. */
export function flattenMessages(tree: MessageTree, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (typeof value === "string") out.set(path, value);
    else for (const [k, v] of flattenMessages(value, path)) out.set(k, v);
  }
  return out;
}
