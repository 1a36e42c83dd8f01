// VM lifecycle: spec validation, cloud-init seed, QEMU processes (re-attached after an agent
// restart), and the errors the API maps to HTTP statuses.
export { AgentError, isAgentError, type AgentErrorCode } from "./errors";
export { VmManager } from "./manager";
export {
  type ApplyResult,
  type ResolvedImage,
  type VmConsolePaths,
  type VmManagerOptions,
  type VmNetwork,
} from "./types";
export { specDisplay } from "./validate";
