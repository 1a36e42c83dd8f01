// Public surface of lib/server/insights: other domains, app/ and server/ import only from here.
export * from "./dashboard";
export * from "./events";
export * from "./metrics";
export * from "./notifications";
