// Public surface of lib/server/startup: other domains, app/ and server/ import only from here.
export * from "./startup";
