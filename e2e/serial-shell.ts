import { expect, type APIRequestContext, type Locator, type Page } from "@playwright/test";
import { connectWebSocket, type WebSocket } from "../agent/src/console";
import { ticketFor, wsUrl } from "./console-helpers";

// A guest's serial console over a console ticket, driven like a shell: everything received as text,
// waits for a pattern, probes until the shell answers, runs a command and reads its exit code.
export class SerialShell {
  text = "";
  closed: number | null = null;
  private constructor(private readonly ws: WebSocket) {
    ws.on("binary", (b) => (this.text += b.toString("utf8")));
    ws.on("text", (s) => (this.text += s));
    ws.on("close", (code) => (this.closed = code));
  }

  static async open(api: APIRequestContext, vmId: string): Promise<SerialShell> {
    const t = await ticketFor(api, vmId);
    expect(t.write).toBe(true);
    return new SerialShell(await connectWebSocket(wsUrl(t.url)));
  }

  async waitFor(re: RegExp, from: number, ms: number, what: string): Promise<RegExpExecArray> {
    let m: RegExpExecArray | null = null;
    await expect
      .poll(
        () => {
          if (this.closed !== null) throw new Error(`console closed (${this.closed}) while waiting for ${what}`);
          m = re.exec(this.text.slice(from));
          return Boolean(m);
        },
        { timeout: ms, message: `${what}; console so far:\n${this.text.slice(-2000)}` },
      )
      .toBe(true);
    return m!;
  }

  /** Retypes a probe until the shell answers (the console may connect before the shell runs). */
  async shellReady(tag: string, ms = 120_000): Promise<void> {
    const end = Date.now() + ms;
    for (let n = 1; ; n++) {
      const from = this.text.length;
      this.ws.sendText(`echo "READY-${tag}${n}-$((6*7))"\n`);
      const ok = await this.waitFor(new RegExp(`READY-${tag}${n}-42`), from, 5_000, "probe").then(
        () => true,
        () => false,
      );
      if (ok) return;
      if (Date.now() > end) throw new Error(`${tag}: the console shell does not answer:\n${this.text.slice(-2000)}`);
    }
  }

  /** Runs a command in the guest shell; returns what the console showed meanwhile and the exit code. */
  async run(cmd: string, tag: string, ms = 60_000): Promise<{ out: string; rc: number }> {
    const from = this.text.length;
    this.ws.sendText(`${cmd}; echo "END-${tag}-rc=$?-$((40+2))"\n`);
    const m = await this.waitFor(new RegExp(`END-${tag}-rc=(\\d+)-42`), from, ms, `the answer to ${cmd}`);
    return { out: this.text.slice(from), rc: Number(m[1]) };
  }

  /** Sends an empty line, as a person at the console would to wake it. */
  nudge(): void {
    this.ws.sendText("\n");
  }

  close(): void {
    this.ws.terminate();
  }
}

/**
 * The serial console in the browser (components/serial-terminal.tsx), read from xterm's DOM renderer: one
 * element per screen row in `.xterm-rows` (the visible screen, not the scrollback), typed into with the keyboard.
 */
export class BrowserTerminal {
  readonly out: Locator;
  constructor(private readonly page: Page) {
    this.out = page.getByTestId("serial-console-output");
  }

  /** The screen's rows, trailing blanks dropped. */
  async rows(): Promise<string[]> {
    const rows = await this.out.locator(".xterm-rows > div").allTextContents();
    return rows.map((r) => r.replace(/\u00a0/g, " ").trimEnd());
  }

  /** How many rows are exactly `line`. */
  async count(line: string): Promise<number> {
    return (await this.rows()).filter((r) => r === line).length;
  }

  async waitForRow(test: (row: string) => boolean, what: string, ms = 60_000): Promise<void> {
    let last: string[] = [];
    try {
      await expect.poll(async () => (last = await this.rows()).some(test), { timeout: ms }).toBe(true);
    } catch {
      throw new Error(`${what}: not on the screen after ${ms} ms; the screen:\n${last.join("\n")}`);
    }
  }

  /** Records what the page sends on its WebSockets from now on (call before it connects). */
  static recordSent(page: Page): string[] {
    const sent: string[] = [];
    page.on("websocket", (ws) => ws.on("framesent", (f) => sent.push(String(f.payload))));
    return sent;
  }

  /** Gives the terminal the keyboard focus. */
  async focus(): Promise<void> {
    await this.out.locator(".xterm-screen").click();
  }

  /** Types `text` and presses Enter. */
  async line(text: string): Promise<void> {
    await this.page.keyboard.type(text);
    await this.page.keyboard.press("Enter");
  }

  /** Retypes a probe until the shell answers on a row of its own (the page may connect before the shell runs). */
  async shellReady(tag: string, ms = 120_000): Promise<void> {
    const end = Date.now() + ms;
    for (let n = 1; ; n++) {
      await this.line(`echo READY-${tag}${n}-$((6*7))`);
      const ok = await this.waitForRow((r) => r === `READY-${tag}${n}-42`, "probe", 5_000).then(
        () => true,
        () => false,
      );
      if (ok) return;
      if (Date.now() > end) throw new Error(`${tag}: the shell does not answer:\n${(await this.rows()).join("\n")}`);
    }
  }
}
