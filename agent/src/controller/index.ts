// Talking to the controller: registration, heartbeat, image downloads (ControllerClient), and the
// TLS both ways (the agent's key and certificate, the pinned cluster CA).
export {
  ControllerClient,
  ControllerHttpError,
  loadIdentity,
  saveIdentity,
  type ControllerClientOptions,
  type Identity,
} from "./controller-client";
export {
  AgentTls,
  fingerprintOf,
  isControllerPeer,
  readTrust,
  SERVER_TLS_OPTIONS,
  serverSecureContext,
  TrustError,
  type ControllerTrust,
} from "./tls";
