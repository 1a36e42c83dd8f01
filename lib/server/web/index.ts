// Public surface of lib/server/web: other domains, app/ and server/ import only from here.
// The Next.js request glue (route-handler and server-action wrappers, the page guard): only app/
// imports it, so the domains below stay importable from plain Node (workers, bench, scripts).
export * from "./action";
export * from "./api-route";
export * from "./page-guard";
