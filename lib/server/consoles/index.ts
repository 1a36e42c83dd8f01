// Public surface of lib/server/consoles: other domains, app/ and server/ import only from here.
export * from "./console";
export * from "./tickets";
export * from "./revocation";
