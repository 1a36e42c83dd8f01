// Next.js calls register() once per server start: the custom server's hooks, first admin, background jobs.
export async function register() {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { onServerStart } = await import("./lib/server/startup");
  await onServerStart();
}
