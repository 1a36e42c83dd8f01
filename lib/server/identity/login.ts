import "server-only";
// The image's default user from the wizard (issue 17): a password and/or one SSH key, delivered by
// cloud-init. The password is kept and sent only as a SHA-512 crypt hash ($6$, what /etc/shadow holds
// and what cloud-init's set-passwords module recognises as already hashed), so neither the database,
// the agent's spec nor the seed ISO ever holds it in clear.
import { randomBytes } from "node:crypto";
import { encrypt } from "unixcrypt";

const SALT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function hashLoginPassword(password: string): string {
  // 16 characters from crypt's alphabet: the longest salt SHA-512 crypt uses.
  const salt = Array.from(randomBytes(16), (b) => SALT_ALPHABET[b % 64]).join("");
  return encrypt(password, `$6$${salt}$`);
}

/**
 * The #cloud-config that sets the default user's password from its hash and lets it log in with it
 * (console and SSH). The hash's alphabet ($ . / and alphanumerics) needs no YAML escaping in quotes.
 */
export function loginUserData(passwordHash: string): string {
  if (!/^\$6\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/.test(passwordHash)) throw new Error("not a SHA-512 crypt hash");
  return `#cloud-config\npassword: "${passwordHash}"\nchpasswd:\n  expire: false\nssh_pwauth: true\n`;
}
