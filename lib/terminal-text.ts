// Terminal output -> plain text for the minimal browser console (no terminal emulator): escape
// sequences are dropped, CR LF becomes LF, backspace erases. Pure, so it is unit-tested.

export const MAX_CONSOLE_CHARS = 200_000;

/** Appends `incoming` to `current`; `rest` is an unfinished escape sequence to prepend next time. */
export function applyTerminalText(
  current: string,
  incoming: string,
  max = MAX_CONSOLE_CHARS,
): { text: string; rest: string } {
  const cut = /\x1b(\[[0-?]*[ -/]*|\][^\x07\x1b]*)?$/.exec(incoming);
  const rest = cut ? incoming.slice(cut.index) : "";
  const s = (cut ? incoming.slice(0, cut.index) : incoming)
    .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, "") // CSI: colours, cursor movement
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "") // OSC: window titles
    .replace(/\x1b[@-_]/g, "") // other two-byte escapes
    .replace(/\r\n/g, "\n")
    .replace(/[\x00-\x07\x0b-\x1f\x7f]/g, ""); // keeps \b, \t, \n
  const parts = s.split("\b");
  let text = current + parts[0];
  for (let i = 1; i < parts.length; i++) text = text.slice(0, -1) + parts[i];
  return { text: text.length > max ? text.slice(-max) : text, rest };
}
