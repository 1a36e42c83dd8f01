import { describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ConfigError, parseConfig } from "./config";

const ok = (argv: string[], env: Record<string, string | undefined> = {}) => {
  const c = parseConfig(argv, env);
  if (c === "help") throw new Error("help");
  return c;
};

describe("parseConfig", () => {
  it("defaults", () => {
    const c = ok(["--controller", "http://127.0.0.1:3000/"], { POLYARCH_JOIN_TOKEN: "j".repeat(20) });
    expect(c).toMatchObject({
      controller: "http://127.0.0.1:3000",
      listen: { host: "127.0.0.1", port: 7101 },
      advertiseUrl: "https://127.0.0.1:7101",
      stateDir: "/var/lib/polyarch-agent",
      bridge: "br-pa",
      kvm: "auto",
      dhcp: "auto",
    });
    expect(c.ovsDb).toBeUndefined();
    expect(c.heartbeatMs).toBeUndefined();
    expect(c.nodeCommand).toEqual([process.execPath]);
  });

  it("--dhcp on|off|auto (ADR 057); the flag beats POLYARCH_DHCP", () => {
    const base = ["--controller", "http://127.0.0.1:3000"];
    expect(ok([...base, "--dhcp", "off"]).dhcp).toBe("off");
    expect(ok(base, { POLYARCH_DHCP: "on" }).dhcp).toBe("on");
    expect(ok([...base, "--dhcp", "auto"], { POLYARCH_DHCP: "off" }).dhcp).toBe("auto");
  });

  it("--external-bridge / --external-vlan (ADR 058): optional; the VLAN needs the bridge; env works", () => {
    const base = ["--controller", "http://127.0.0.1:3000"];
    expect(ok(base).externalBridge).toBeUndefined();
    expect(ok([...base, "--external-bridge", "br-ext"])).toMatchObject({ externalBridge: "br-ext" });
    expect(ok([...base, "--external-bridge", "br-ext", "--external-vlan", "0"]).externalVlan).toBe(0);
    expect(ok(base, { POLYARCH_EXTERNAL_BRIDGE: "br-up", POLYARCH_EXTERNAL_VLAN: "300" })).toMatchObject({
      externalBridge: "br-up",
      externalVlan: 300,
    });
    expect(() => ok([...base, "--external-vlan", "5"])).toThrow(/--external-vlan needs --external-bridge/);
    expect(() => ok([...base, "--external-bridge", "br-ext", "--external-vlan", "4095"])).toThrow(/0\.\.4094/);
    expect(() => ok([...base, "--external-bridge", "br/ext"])).toThrow(/--external-bridge must be/);
  });

  it("--node-command: a JSON argv array (the fence watchdog's Node, ADR 036); the flag beats the env", () => {
    const base = ["--controller", "http://127.0.0.1:3000"];
    const prefix = ["qemu-aarch64-static", "-L", "/sysroot", "/opt/node/bin/node"];
    expect(ok([...base, "--node-command", JSON.stringify(prefix)]).nodeCommand).toEqual(prefix);
    expect(ok(base, { POLYARCH_AGENT_NODE_COMMAND: '["/usr/bin/node"]' }).nodeCommand).toEqual(["/usr/bin/node"]);
    expect(
      ok([...base, "--node-command", '["/a/node"]'], { POLYARCH_AGENT_NODE_COMMAND: '["/b/node"]' }).nodeCommand,
    ).toEqual(["/a/node"]);
  });

  it("flags beat env; env fills the rest", () => {
    const c = ok(
      [
        "--listen",
        "127.0.0.1:7202",
        "--state-dir",
        "rel/dir",
        "--heartbeat-ms",
        "2500",
        "--ovs-db",
        "unix:/tmp/x/db.sock",
        "--machine-id",
        "agent-b",
      ],
      {
        POLYARCH_CONTROLLER_URL: "http://127.0.0.1:3000",
        POLYARCH_JOIN_TOKEN: "k".repeat(16),
        POLYARCH_AGENT_LISTEN: "0.0.0.0:1",
        POLYARCH_AGENT_URL: "https://10.200.0.2:7202",
      },
    );
    expect(c).toMatchObject({
      listen: { host: "127.0.0.1", port: 7202 },
      advertiseUrl: "https://10.200.0.2:7202",
      stateDir: path.resolve("rel/dir"),
      heartbeatMs: 2500,
      ovsDb: "unix:/tmp/x/db.sock",
      machineId: "agent-b",
      joinToken: "k".repeat(16),
    });
  });

  it("standalone mode needs an api token instead of a controller", () => {
    expect(ok(["--api-token", "t".repeat(16), "--insecure-http"]).controller).toBeUndefined();
    expect(() => parseConfig([], {})).toThrow(/--controller is required/);
    // no controller = nobody to issue a certificate: plain HTTP only when asked for
    expect(() => parseConfig(["--api-token", "t".repeat(16)], {})).toThrow(/--insecure-http/);
  });

  it("TLS flags: https by default, http only with --insecure-http; the CA pin is normalised", () => {
    const base = ["--controller", "http://127.0.0.1:3000"];
    expect(ok([...base, "--insecure-http"]).advertiseUrl).toBe("http://127.0.0.1:7101");
    expect(() => parseConfig([...base, "--advertise-url", "http://10.0.0.2:7101"], {})).toThrow(/must be https/);
    expect(() => parseConfig([...base, "--insecure-http", "--advertise-url", "https://10.0.0.2:7101"], {})).toThrow(
      /must be http:\/\/ with --insecure-http/,
    );
    const fp = "AB:".repeat(31) + "AB";
    expect(ok([...base, "--controller-fingerprint", fp, "--controller-ca", "ca.pem"])).toMatchObject({
      controllerFingerprint: "ab".repeat(32),
      controllerCa: path.resolve("ca.pem"),
    });
    expect(() => parseConfig([...base, "--controller-fingerprint", "abc"], {})).toThrow(/64 hex digits/);
  });

  it("the join token comes from a file or the environment, never argv (ADR 025)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pa-cfg-"));
    const file = path.join(dir, "token");
    fs.writeFileSync(file, "k".repeat(24) + "\n", { mode: 0o600 });
    const base = ["--controller", "http://127.0.0.1:3000"];
    expect(ok([...base, "--join-token-file", file]).joinToken).toBe("k".repeat(24));
    expect(ok(base, { POLYARCH_JOIN_TOKEN: "e".repeat(20) }).joinToken).toBe("e".repeat(20));
    fs.writeFileSync(file, "short");
    expect(() => parseConfig([...base, "--join-token-file", file], {})).toThrow(/at least 16/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("--help", () => {
    expect(parseConfig(["--help"], {})).toBe("help");
  });

  it.each([
    [["--controller", "ftp://x"], /--controller must be an http/],
    [["--controller", "http://127.0.0.1:3000", "--listen", "7101"], /HOST:PORT/],
    [["--controller", "http://127.0.0.1:3000", "--listen", "127.0.0.1:70000"], /HOST:PORT/],
    [["--controller", "http://127.0.0.1:3000", "--bridge", "a-very-long-bridge-name"], /--bridge/],
    [["--controller", "http://127.0.0.1:3000", "--bridge", "-x"], /--bridge/],
    [["--controller", "http://127.0.0.1:3000", "--ovs-db", "tcp:10.0.0.1:6640"], /--ovs-db/],
    [["--controller", "http://127.0.0.1:3000", "--ovs-db", "unix:relative.sock"], /--ovs-db/],
    [["--controller", "http://127.0.0.1:3000", "--machine-id", "../x"], /--machine-id/],
    [["--controller", "http://127.0.0.1:3000", "--heartbeat-ms", "abc"], /heartbeat/],
    [["--controller", "http://127.0.0.1:3000", "--heartbeat-ms", "10"], /at least 200/],
    [["--controller", "http://127.0.0.1:3000", "--kvm", "on"], /--kvm must be auto or off/],
    [["--controller", "http://127.0.0.1:3000", "--dhcp", "yes"], /--dhcp must be on, off or auto/],
    [["--controller", "http://127.0.0.1:3000", "--join-token", "j".repeat(20)], /--join-token was removed.*ps/],
    [["--controller", "http://127.0.0.1:3000", "--join-token-file", "/nonexistent/token"], /--join-token-file/],
    [
      ["--controller", "http://127.0.0.1:3000", "--node-command", "/usr/bin/node"],
      /--node-command must be a JSON array/,
    ],
    [["--controller", "http://127.0.0.1:3000", "--node-command", "[]"], /--node-command must be a JSON array/],
    [["--controller", "http://127.0.0.1:3000", "--node-command", '["node", ""]'], /--node-command/],
    [["--nope"], /Unknown option/],
    [["positional"], /positional/i],
  ])("rejects %j", (argv, msg) => {
    expect(() => parseConfig(argv, {})).toThrow(ConfigError);
    expect(() => parseConfig(argv, {})).toThrow(msg);
  });

  it("lists every problem at once", () => {
    try {
      parseConfig(["--controller", "nope", "--listen", "x", "--kvm", "maybe"], {});
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message.split("\n").filter((l) => l.startsWith("  - "))).toHaveLength(3);
    }
  });
});
