// The WebSocket close code the console proxy (server/console-proxy.ts) ends a console with when its
// authorisation ended (ADR 029), and the browser consoles (components/console-session.tsx) recognise:
// they show the reason and do not reconnect on their own. 4000–4999 is the application's range.
export const CONSOLE_REVOKED_CLOSE_CODE = 4403;
