// Test support: run a command in a fixture guest's console shell (scripts/fixtures/init.sh gives
// busybox sh on the serial console) by typing it on the VM's serial socket, and read its output
// back from the serial log. Output lines are tagged, so the echo of the typed line never matches.
import { readFileSync } from "node:fs";
import net from "node:net";

let seq = 0;

/** Types `line` + newline on the serial socket and disconnects. */
export function typeOnSerial(serialSocket: string, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: serialSocket });
    s.once("error", reject);
    s.once("connect", () => s.end(line + "\n", () => resolve()));
  });
}

/**
 * Runs `cmd` in the guest shell; resolves with its output lines (stdout and stderr) once the
 * guest printed the end tag, or throws after `timeoutMs` with the log's tail.
 */
export async function guestRun(
  paths: { serialSocket: string; serialLog: string },
  cmd: string,
  timeoutMs = 60_000,
): Promise<string[]> {
  const tag = `PA${process.pid}T${++seq}`;
  // `sed` prefixes each output line; the end marker is printed by a separate echo.
  await typeOnSerial(paths.serialSocket, `{ ${cmd} ; } 2>&1 | sed 's/^/${tag} /'; echo ${tag}-END`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = readLog(paths.serialLog);
    const end = lines.lastIndexOf(`${tag}-END`);
    if (end >= 0) return lines.slice(0, end).flatMap((l) => (l.startsWith(`${tag} `) ? [l.slice(tag.length + 1)] : []));
    if (Date.now() > deadline)
      throw new Error(
        `guest did not run ${JSON.stringify(cmd)} within ${timeoutMs} ms; log tail:\n${lines.slice(-15).join("\n")}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

function readLog(file: string): string[] {
  try {
    return readFileSync(file, "utf8").replace(/\r/g, "").split("\n");
  } catch {
    return [];
  }
}
