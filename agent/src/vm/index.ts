// VM lifecycle: spec validation, cloud-init seed, QEMU processes (re-attached after an agent
// restart), and the errors the API maps to HTTP statuses.
export { AgentError, isAgentError, type AgentErrorCode } from "./errors";
export { VmManager, type ApplyResult, type ResolvedImage, type VmConsolePaths, type VmManagerOptions, type VmNetwork } from "./manager";
export { specDisplay } from "./validate";
