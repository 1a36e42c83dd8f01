// Public surface of lib/server/networks: other domains, app/ and server/ import only from here.
export * from "./networks";
export { canSeeNetwork, networkScopeFor, requireAttachableNetwork, requireChangeableNetwork } from "./tenancy";
