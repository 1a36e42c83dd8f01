// .dockerignore semantics (moby/patternmatcher), for docker/dockerfiles.int.test.ts: does the build
// context contain a path? Rules are applied in order, the last matching one wins, `!` re-includes,
// and a rule matching a parent directory matches everything below it.
//   *  any run of characters except '/'      ?  one character except '/'
//   ** any number of directories (also none) [..] character class, \ escapes

/** @returns {{ pattern: string, negate: boolean, re: RegExp }[]} */
export function parseDockerignore(text) {
  const rules = [];
  for (let line of text.split(/\r?\n/)) {
    line = line.trim();
    if (!line || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1).trim();
    // filepath.Clean + leading '/' dropped, like the builder does
    let p = line.replace(/\/+/g, "/").replace(/^\/+/, "").replace(/\/+$/, "");
    p = p
      .split("/")
      .filter((s) => s !== ".")
      .join("/");
    if (!p) continue;
    rules.push({ pattern: p, negate, re: compile(p) });
  }
  return rules;
}

function compile(pattern) {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") i++;
        re += i + 1 >= pattern.length ? ".*" : "(.*/)?";
      } else re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += `[${pattern
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else if (ch === "\\" && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += /[.+^${}()|\\/]/.test(ch) ? `\\${ch}` : ch;
  }
  return new RegExp(re + "$");
}

/** true when `relPath` (relative to the context root, '/'-separated) is left out of the build context. */
export function isExcluded(rules, relPath) {
  const path = relPath.replace(/^\.\/+/, "").replace(/\/+$/, "");
  if (path === "" || path === ".") return false;
  const parts = path.split("/");
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const r of rules) if (candidates.some((c) => r.re.test(c))) excluded = !r.negate;
  return excluded;
}
