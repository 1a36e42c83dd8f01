// Next.js calls register() once per server start: first admin, background jobs.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  // console tickets for scripts/server.mjs (same process): spent in the database (ADR 013)
  (await import("./lib/server/consoles")).registerConsoleTicketStore();
  const { onServerStart } = await import("./lib/server/startup");
  await onServerStart();
}
