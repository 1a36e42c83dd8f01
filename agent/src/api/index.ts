// The agent API v1 (HTTP routes, console WebSocket upgrades) and its host-token check.
export { TokenVerifier } from "./auth";
export {
  closeServer,
  createAgentServer,
  HttpError,
  listen,
  MAX_BODY_BYTES,
  type AgentServer,
  type AgentServerOptions,
  type ImageBackend,
  type VmBackend,
} from "./server";
