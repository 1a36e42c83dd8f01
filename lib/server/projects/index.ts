// Public surface of lib/server/projects: other domains, app/ and server/ import only from here.
export * from "./projects";
export * from "./membership";
