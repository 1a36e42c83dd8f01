// A tiny raw-frame tool for port-security.int.test.ts, run with python3 inside a network namespace.
// `send IFACE SPECS_JSON` writes hand-built Ethernet frames (UDP/IPv4, ARP, IPv6) to IFACE;
// `listen IFACE STOP_TAG` prints "ready", then the tags of every frame IFACE receives until one
// carries STOP_TAG (exits 0) or 60 s pass (exits 2). Each frame carries "PA-TAG:<name>;" in its
// payload (ARP: in the padding), so the listener reports exactly which test frames got through.
export const FRAMES_PY = String.raw`
import json, select, socket, struct, sys, time

def mac(s): return bytes.fromhex(s.replace(":", ""))
def ip4(s): return socket.inet_aton(s)
def tag(t): return ("PA-TAG:%s;" % t).encode()

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff

def frame(f):
    eth = mac(f["dst"]) + mac(f["src"])
    if f["kind"] == "udp":
        payload = tag(f["tag"])
        udp = struct.pack("!HHHH", 40000, 40000, 8 + len(payload), 0) + payload
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, ip4(f["sip"]), ip4(f["dip"]))
        iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
        return eth + b"\x08\x00" + iph + udp
    if f["kind"] == "arp":
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, f.get("op", 1), mac(f["sha"]), ip4(f["spa"]),
                          b"\0" * 6, ip4(f["tpa"]))
        return eth + b"\x08\x06" + arp + tag(f["tag"])
    if f["kind"] == "ipv6":
        payload = tag(f["tag"])
        hdr = struct.pack("!IHBB16s16s", 6 << 28, len(payload), 59, 64, b"\xfe\x80" + b"\0" * 13 + b"\x01",
                          b"\xff\x02" + b"\0" * 13 + b"\x01")
        return eth + b"\x86\xdd" + hdr + payload
    raise SystemExit("unknown frame kind " + f["kind"])

def tags_in(data):
    out, start = [], 0
    while True:
        i = data.find(b"PA-TAG:", start)
        if i < 0: return out
        j = data.find(b";", i)
        if j < 0: return out
        out.append(data[i + 7:j].decode("ascii", "replace")); start = j

mode, iface = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
if mode == "send":
    for f in json.loads(sys.argv[3]): s.send(frame(f))
    sys.exit(0)
stop, seen, deadline = sys.argv[3], [], time.time() + 60
print("ready", flush=True)
while time.time() < deadline:
    r, _, _ = select.select([s], [], [], 1.0)
    if not r: continue
    data, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING: continue
    for t in tags_in(data):
        seen.append(t)
        if t == stop:
            print(json.dumps(seen), flush=True); sys.exit(0)
print(json.dumps(seen), flush=True)
sys.exit(2)
`;
