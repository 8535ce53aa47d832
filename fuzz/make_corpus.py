#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/ (a handful of realistic inputs each).

Run from anywhere: python3 fuzz/make_corpus.py. The files are committed; rerun after
changing an input format in one of the *_fuzz.cpp harnesses.
"""
import base64, hashlib, hmac, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
JWT_SECRET = b"fuzz-secret"  # the secret jwt_fuzz.cpp verifies against


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- http_request_fuzz: request heads ---------------------------------------------------
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
write("http_request_fuzz", "upgrade",
      "GET /ws/my-project HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % KEY)
write("http_request_fuzz", "upgrade_browser",
      "GET /ws/proj.42_a-b?token=eyJhbGciOiJIUzI1NiJ9.e30.sig&x=1 HTTP/1.1\r\nHost: localhost\r\n"
      "Connection: keep-alive, Upgrade\r\nPragma: no-cache\r\nUpgrade: websocket\r\n"
      "Origin: http://localhost:3000\r\nSec-WebSocket-Version: 13\r\nUser-Agent: Mozilla/5.0\r\n"
      "Accept-Encoding: gzip, deflate, br\r\nSec-WebSocket-Key: %s\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
      "Authorization: Bearer abc.def.ghi\r\n\r\nleftover-frame-bytes" % KEY)
write("http_request_fuzz", "healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
write("http_request_fuzz", "post_publish",
      "POST /api/rooms/p1/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
write("http_request_fuzz", "http10", "GET /ws/room HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n")
write("http_request_fuzz", "bad_version",
      "GET /ws/room HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
      "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: %s\r\n\r\n" % KEY)
write("http_request_fuzz", "partial", "GET /ws/room HTTP/1.1\r\nUpgr")


# --- ws_frame_fuzz: [max_message selector][split seed] client frames ----------------------
def frame(opcode, payload, fin=True, masked=True, mask=b"\x12\x34\x56\x78"):
    if isinstance(payload, str):
        payload = payload.encode()
    out = bytes([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if masked else 0
    n = len(payload)
    if n < 126:
        out += bytes([mbit | n])
    elif n <= 0xFFFF:
        out += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([mbit | 127]) + struct.pack(">Q", n)
    if masked:
        out += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return out + payload


CURSOR = json.dumps({"type": "cursor", "position": [12.5, -3.25, 40.0], "target": [0, 0, 0],
                     "up": [0, 1, 0], "fov": 45}, separators=(",", ":"))
JOIN = '{"type":"join","user":{"id":"u1","name":"Ana","color":"#ff0000"},"since":3}'
write("ws_frame_fuzz", "join_cursor", b"\x05\x00" + frame(1, JOIN) + frame(1, CURSOR))
write("ws_frame_fuzz", "fragmented_with_ping",
      b"\x03\x11" + frame(1, CURSOR[:20], fin=False) + frame(9, "hi") + frame(0, CURSOR[20:], fin=True))
write("ws_frame_fuzz", "close", b"\x03\x22" + frame(1, '{"type":"leave"}') + frame(8, b"\x03\xe8bye"))
write("ws_frame_fuzz", "binary", b"\x03\x33" + frame(2, b"\x00\x01\x02"))
write("ws_frame_fuzz", "unmasked", b"\x03\x44" + frame(1, "x", masked=False))
write("ws_frame_fuzz", "utf8", b"\x03\x55" + frame(1, "caf\u00e9 \U0001f600") + frame(1, b"\xc3\x28"))
write("ws_frame_fuzz", "too_big", b"\x00\x66" + frame(1, "x" * 40))
write("ws_frame_fuzz", "len126", b"\x04\x77" + frame(1, "y" * 300) + frame(10, "unsolicited pong"))


# --- message_fuzz: client messages ----------------------------------------------------------
write("message_fuzz", "join", JOIN)
write("message_fuzz", "cursor", CURSOR)
write("message_fuzz", "cursor_min", '{"type":"cursor","position":[1e-300,2.5e10,-0.0],"target":[1,2,3]}')
write("message_fuzz", "select", '{"type":"select","ids":["b-1","b-2","bâtiment 3"]}')
write("message_fuzz", "edit",
      '{"type":"edit","building":"b-7","op":"set-height","data":{"h":12.5,"tags":["a",null,true]},"id":"m1"}')
write("message_fuzz", "follow", '{"type":"follow","session":"s3"}')
write("message_fuzz", "unfollow", '{"type":"follow","session":null}')
write("message_fuzz", "ping", '{"type":"ping","t":1712345678901}')
write("message_fuzz", "leave", '{"type":"leave"}')
write("message_fuzz", "bad", '{"type":"cursor","position":[1,2]}')


# --- jwt_fuzz: [mode/clock byte] token, or header\npayload to be signed --------------------
def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def token(header, payload, secret=JWT_SECRET):
    signing_input = b64url(header.encode()) + b"." + b64url(payload.encode())
    sig = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return signing_input + b"." + b64url(sig)


RAW, SIGNED = b"\x80", b"\x81"  # now = 1700000000 in both modes
HS = '{"alg":"HS256","typ":"JWT"}'
write("jwt_fuzz", "valid", RAW + token(HS, '{"sub":"alice","name":"Alice","exp":1700003600,"rooms":["p1","team-*"]}'))
write("jwt_fuzz", "expired", RAW + token(HS, '{"sub":"alice","exp":1699999999}'))
write("jwt_fuzz", "wrong_secret", RAW + token(HS, '{"sub":"alice","exp":1700003600}', b"nope"))
write("jwt_fuzz", "alg_none", RAW + b64url(b'{"alg":"none"}') + b"." + b64url(b'{"sub":"a","exp":1800000000}') + b".")
write("jwt_fuzz", "signed_claims",
      SIGNED + b'{"alg":"HS256"}\n{"sub":"bob","exp":1700000001.5,"nbf":1699999999,"rooms":["*"]}')
write("jwt_fuzz", "signed_missing_sub", SIGNED + b'{"alg":"HS256","typ":"at+jwt"}\n{"exp":1800000000}')
write("jwt_fuzz", "signed_bad_rooms", SIGNED + b'{"alg":"HS256"}\n{"sub":"x","exp":1800000000,"rooms":["a",1]}')


# --- jwks_fuzz: JWK sets (RFC 7515 A.2/A.3 and RFC 8037 A.2 public keys) and PEM ------------
RFC_RSA = {"kty": "RSA", "e": "AQAB", "n": (
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-"
    "pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2Ca"
    "pHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb5"
    "4h4FRWyuXpoQ")}
RFC_EC = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
RFC_OKP = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


def jwks(*keys):
    return json.dumps({"keys": list(keys)}, separators=(",", ":"))


write("jwks_fuzz", "rfc_rsa", jwks(dict(RFC_RSA, kid="2011-04-29")))
write("jwks_fuzz", "rfc_ec", jwks(dict(RFC_EC, kid="e9bc097a-ce51-4036-9562-d2ade882db0d", use="sig", alg="ES256")))
write("jwks_fuzz", "rfc_okp", jwks(dict(RFC_OKP, kid="ed", key_ops=["verify"])))
# Keycloak's shape: a signing key with x5c, an RSA-OAEP encryption key, an EC key.
write("jwks_fuzz", "keycloak_shape", jwks(
    dict(RFC_RSA, kid="sig", use="sig", alg="RS256", x5c=["MIICmzCCAYMCBgGM"], x5t="abc", **{"x5t#S256": "def"}),
    dict(RFC_RSA, kid="enc", use="enc", alg="RSA-OAEP"),
    dict(RFC_EC, kid="ec", use="sig", alg="ES256")))
write("jwks_fuzz", "skipped_entries", jwks(
    {"kty": "oct", "k": "c2VjcmV0"}, dict(RFC_OKP, d="nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"),
    dict(RFC_EC, crv="P-384"), dict(RFC_RSA, e="AQAC"), dict(RFC_RSA, alg="HS256"), RFC_OKP))
write("jwks_fuzz", "no_usable_key", jwks({"kty": "RSA", "n": "AQAB", "e": "AQAB"}))
write("jwks_fuzz", "duplicate_member", '{"keys":[],"keys":[%s]}' % json.dumps(RFC_OKP))
write("jwks_fuzz", "pem_ed25519",
      "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n")


# --- proxy_protocol_fuzz: PROXY headers (the specification's examples) and forwarding lists --
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"
INET = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack(">HH", 4711, 443)
INET6 = (bytes.fromhex("20010db8000000000000000000000001") + bytes.fromhex("20010db8000000000000000000000002")
         + struct.pack(">HH", 4711, 443))
AWS_TLV = b"\xea" + struct.pack(">H", 13) + b"\x01vpce-0abc123"
write("proxy_protocol_fuzz", "v1_tcp4", b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n\r\n")
write("proxy_protocol_fuzz", "v1_tcp6", b"PROXY TCP6 2001:db8::1 2001:db8::2 4711 443\r\n")
write("proxy_protocol_fuzz", "v1_unknown", b"PROXY UNKNOWN\r\n")
write("proxy_protocol_fuzz", "v1_unknown_longest",
      b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n")
write("proxy_protocol_fuzz", "v2_inet", V2SIG + b"\x21\x11" + struct.pack(">H", len(INET)) + INET + b"GET /")
write("proxy_protocol_fuzz", "v2_inet6_tlv",
      V2SIG + b"\x21\x21" + struct.pack(">H", len(INET6) + len(AWS_TLV)) + INET6 + AWS_TLV)
write("proxy_protocol_fuzz", "v2_local", V2SIG + b"\x20\x00\x00\x00")
write("proxy_protocol_fuzz", "xff", b"203.0.113.9, 198.51.100.7:4711, [2001:db8::2]:80, unknown")
write("proxy_protocol_fuzz", "forwarded",
      b'for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https;by=203.0.113.43, for=_hidden, for=unknown')
write("proxy_protocol_fuzz", "cidr", b"2001:db8::/32")


# --- room_log_fuzz: room log files (core/disk/room_log.h, docs/durability.md) ----------------
import zlib


def rl_frame(payload):
    n = struct.pack("<I", len(payload))
    return n + struct.pack("<I", zlib.crc32(n + payload) & 0xFFFFFFFF) + payload


def rl_str(b):
    b = b.encode() if isinstance(b, str) else b
    return struct.pack("<I", len(b)) + b


def rl_header(room, epoch, seq_base=0, event_base=0, acked=0):
    return rl_frame(b"\x01\x01" + rl_str(room) + rl_str(epoch) + struct.pack("<QQQ", seq_base, event_base, acked))


def rl_append(seq=None, key="", frame="", ts=0, events=()):
    p = b"\x02" + (b"\x01" + struct.pack("<Qq", seq, ts) + rl_str(key) + rl_str(frame) if seq else b"\x00")
    p += struct.pack("<I", len(events))
    for number, eid, body in events:
        p += struct.pack("<Q", number) + rl_str(eid) + rl_str(body)
    return rl_frame(p)


def rl_ack(through):
    return rl_frame(b"\x03" + struct.pack("<Q", through))


log = rl_header("proj-1", "e1")
for s in range(1, 6):
    log += rl_append(s, "u1\n%d" % s, '{"type":"edit","seq":%d}' % s, 1700000000000 + s,
                     [(s, "edit:proj-1:e1:%d" % s, "{}")])
log += rl_ack(3)
write("room_log_fuzz", "clean", log)
write("room_log_fuzz", "torn_tail", log[:-5])
write("room_log_fuzz", "zero_tail", log + bytes(64))
write("room_log_fuzz", "compacted", rl_header("r", "e9", 990, 40, 40) + rl_append(991, "k", "f") +
      rl_append(None, events=[(41, "join:r:s1", "{}")]))
mid = bytearray(log)
mid[60] ^= 0x20
write("room_log_fuzz", "damaged_middle", bytes(mid))
