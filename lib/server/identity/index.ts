// Public surface of lib/server/identity: other domains, app/ and server/ import only from here.
export * from "./api-tokens";
export * from "./auth";
export * from "./bootstrap";
export * from "./guard";
export * from "./locale";
export { hashLoginPassword } from "./login";
export { SIGN_IN_LIMIT, unlockSignIn } from "./sign-in-limit";
export * from "./ssh-keys";
export * from "./users";
