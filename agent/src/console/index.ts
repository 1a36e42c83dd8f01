// Consoles over WebSocket: the serial console hub, the VNC bridge with its read-only RFB filter,
// and the WebSocket layer they share.
export { readTail, SCROLLBACK_BYTES, SerialConsoles, type ConsolePaths } from "./console";
export { VncBridges } from "./vnc";
export {
  acceptUpgrade,
  connectWebSocket,
  HandshakeError,
  rejectUpgrade,
  UpgradeRefused,
  type WebSocket,
  type WsOptions,
} from "./ws";
