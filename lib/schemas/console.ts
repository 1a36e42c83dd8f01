// Serial console: the ticket request (route handler) and its answer (browser).
import { z } from "zod";

export const consoleTicketRequestSchema = z
  .object({
    /** ask for input; granted only with "console:write", otherwise the ticket is read-only */
    write: z.boolean().default(true),
  })
  .strict();

export const consoleTicketResponseSchema = z.object({
  ticket: z.string(),
  /** path + query of the WebSocket on this controller (the browser adds ws(s)://host) */
  url: z.string(),
  write: z.boolean(),
  expiresAt: z.string(),
});
export type ConsoleTicketResponse = z.output<typeof consoleTicketResponseSchema>;
