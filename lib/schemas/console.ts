// Consoles (serial and VNC): the ticket request (route handler) and its answer (browser).
import { z } from "zod";

export const CONSOLE_KINDS = ["serial", "vnc"] as const;
export type ConsoleKind = (typeof CONSOLE_KINDS)[number];
export const consoleKindSchema = z.enum(CONSOLE_KINDS);

export const consoleTicketRequestSchema = z
  .object({
    /** ask for input; granted only with "console:write", otherwise the ticket is read-only */
    write: z.boolean().default(true),
    /** serial console (default) or the graphical console (VNC) */
    kind: consoleKindSchema.default("serial"),
  })
  .strict();

export const consoleTicketResponseSchema = z.object({
  ticket: z.string(),
  /** path + query of the WebSocket on this controller (the browser adds ws(s)://host) */
  url: z.string(),
  write: z.boolean(),
  kind: consoleKindSchema.default("serial"),
  expiresAt: z.string(),
});
export type ConsoleTicketResponse = z.output<typeof consoleTicketResponseSchema>;
