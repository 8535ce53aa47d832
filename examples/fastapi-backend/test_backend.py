#!/usr/bin/python3
"""The example backend under Debian's uvicorn on an ephemeral 127.0.0.1 port, sent the
requests roomcast sends (integration contract sections 1-4), signed by roomcast's own C++
signer when its path is given (argv[1]), else by standard_webhooks.sign; and, when the
roomcast binary is given too (argv[2]), roomcast and the backend together end to end: a
cookie becomes an identity, a locked building's edit is rejected, an untidy name is
rewritten, and the backend stores every applied edit, join and leave once.

    /usr/bin/python3 test_backend.py [path/to/roomcast-webhook-sign [path/to/roomcast]]
"""

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import base64

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import jwt  # noqa: E402  (Debian's python3-jwt)
import standard_webhooks  # noqa: E402

SIGNER = sys.argv[1] if len(sys.argv) > 1 else None
ROOMCAST = sys.argv[2] if len(sys.argv) > 2 else None
HOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
JWT_SECRET = secrets.token_hex(32)
server = None
port = 0
tmp = None


def setUpModule():
    global server, port, tmp
    tmp = tempfile.TemporaryDirectory()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    env = dict(os.environ, ROOMCAST_HOOK_SECRET=HOOK_SECRET, ROOMCAST_JWT_SECRET=JWT_SECRET,
               BACKEND_DB=os.path.join(tmp.name, "backend.sqlite3"))
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--fd", str(listener.fileno()), "--log-level", "warning"],
        cwd=HERE, env=env, pass_fds=[listener.fileno()])
    listener.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            status, _, _ = request("GET", "/openapi.json")
            if status == 200:
                return
        except OSError:
            pass
        if server.poll() is not None:
            raise RuntimeError("uvicorn exited with %d" % server.returncode)
        time.sleep(0.1)
    raise RuntimeError("the backend did not answer within 20 s")


def tearDownModule():
    if server:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if tmp:
        tmp.cleanup()


def request(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def signature(msg_id, timestamp, body):
    if SIGNER:
        out = subprocess.run([SIGNER, HOOK_SECRET, msg_id, str(timestamp)], input=body, capture_output=True,
                             check=True, timeout=10)
        return out.stdout.decode().strip()
    return standard_webhooks.sign(standard_webhooks.key_of(HOOK_SECRET), msg_id, timestamp, body)


def hook(path, payload, msg_id, timestamp=None, sign=True):
    """POSTs as roomcast does: compact JSON, Standard Webhooks headers."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"content-type": "application/json", "user-agent": "roomcast/test", "webhook-id": msg_id,
               "webhook-timestamp": str(timestamp)}
    if sign:
        headers["webhook-signature"] = signature(msg_id, timestamp, body)
    status, _, data = request("POST", path, body, headers)
    return status, (json.loads(data) if data else None)


def login(user):
    status, headers, _ = request("GET", "/login?user=" + user)
    assert status == 303, status
    cookie = headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith("session="), cookie
    return cookie


class SignedRequests(unittest.TestCase):
    def test_unsigned_or_forged_or_stale_requests_are_refused(self):
        event = {"type": "edit", "room": "demo", "epoch": "e1", "seq": 1}
        self.assertEqual(hook("/roomcast/webhook", event, "edit:demo:e1:1", sign=False)[0], 401)
        body = json.dumps(event, separators=(",", ":")).encode()
        status, _, _ = request("POST", "/roomcast/webhook", body, {
            "webhook-id": "edit:demo:e1:1", "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()})
        self.assertEqual(status, 401)
        self.assertEqual(hook("/roomcast/webhook", event, "edit:demo:e1:1", timestamp=int(time.time()) - 3600)[0], 401)
        # The id is signed too: a valid signature moved to another id fails.
        ts = int(time.time())
        status, _, _ = request("POST", "/roomcast/webhook", body, {
            "webhook-id": "edit:demo:e1:2", "webhook-timestamp": str(ts),
            "webhook-signature": signature("edit:demo:e1:1", ts, body)})
        self.assertEqual(status, 401)


class AuthHook(unittest.TestCase):
    def test_a_logged_in_cookie_becomes_an_identity_with_its_rights(self):
        cookie = login("alice")
        status, answer = hook("/roomcast/auth", {"room": "demo", "headers": {"cookie": "theme=dark; " + cookie},
                                                 "remote_addr": "127.0.0.1"}, "auth:1")
        self.assertEqual(status, 200)
        self.assertEqual(answer["user"], {"id": "alice", "name": "Alice"})
        self.assertEqual(answer["rooms"], ["*"])
        self.assertEqual(answer["edit"], ["*"])
        self.assertGreater(answer["expires_in"], 0)

    def test_no_cookie_is_401_and_a_room_outside_the_users_projects_is_403(self):
        self.assertEqual(hook("/roomcast/auth", {"room": "demo", "headers": {}}, "auth:2")[0], 401)
        self.assertEqual(hook("/roomcast/auth", {"room": "demo", "headers": {"cookie": "session=forged"}}, "auth:3")[0], 401)
        bob = login("bob")
        self.assertEqual(hook("/roomcast/auth", {"room": "board-room", "headers": {"cookie": bob}}, "auth:4")[0], 403)
        status, answer = hook("/roomcast/auth", {"room": "project-7", "headers": {"cookie": bob}}, "auth:5")
        self.assertEqual(status, 200)
        self.assertEqual(answer["edit"], [], "bob views only")


class EditHook(unittest.TestCase):
    def test_an_edit_to_a_locked_building_is_rejected_with_a_reason(self):
        alice = login("alice")
        self.assertEqual(request("PUT", "/api/rooms/demo/locks/b7", headers={"cookie": alice})[0], 204)
        self.assertEqual(request("PUT", "/api/rooms/demo/locks/b7", headers={"cookie": login("bob")})[0], 403)
        edit = {"room": "demo", "session": "s1", "user": {"id": "alice"}, "id": "m1", "building": "b7", "op": "move",
                "data": {"x": 1}}
        status, answer = hook("/roomcast/edit", edit, "edit-hook:demo:s1:m1")
        self.assertEqual(status, 409)
        self.assertIn("locked", answer["reason"])
        self.assertEqual(request("DELETE", "/api/rooms/demo/locks/b7", headers={"cookie": alice})[0], 204)
        self.assertEqual(hook("/roomcast/edit", edit, "edit-hook:demo:s1:m1")[0], 204, "asked again after unlock")

    def test_an_untidy_name_is_rewritten_and_other_edits_pass_as_sent(self):
        edit = {"room": "demo", "session": "s1", "user": {"id": "alice"}, "id": None, "building": "b8", "op": "rename",
                "data": {"name": "  Tower A  ", "floors": 3}}
        status, answer = hook("/roomcast/edit", edit, "edit-hook:demo:s1:1")
        self.assertEqual(status, 200)
        self.assertEqual(answer, {"data": {"name": "Tower A", "floors": 3}})
        edit["data"] = {"name": "Tower A"}
        self.assertEqual(hook("/roomcast/edit", edit, "edit-hook:demo:s1:2"), (204, None))
        del edit["data"]
        self.assertEqual(hook("/roomcast/edit", edit, "edit-hook:demo:s1:3"), (204, None))


class Webhooks(unittest.TestCase):
    def test_edit_events_are_stored_once_per_webhook_id_in_order(self):
        room = "project-hooks"
        events = [{"type": "join", "room": room, "session": "s1", "user": {"id": "alice"}, "role": "editor", "ts": 1}]
        events += [{"type": "edit", "room": room, "epoch": "e1", "seq": n, "id": None, "session": "s1",
                    "user": {"id": "alice"}, "building": "b1", "op": "move", "data": {"x": n}, "ts": n}
                   for n in (1, 2, 3)]
        ids = ["join:%s:s1" % room] + ["edit:%s:e1:%d" % (room, n) for n in (1, 2, 3)]
        for event, msg_id in zip(events, ids):
            self.assertEqual(hook("/roomcast/webhook", event, msg_id), (200, {"stored": True}))
        # roomcast retries after a lost answer: same id, a new timestamp, stored once.
        self.assertEqual(hook("/roomcast/webhook", events[2], ids[2], timestamp=int(time.time()) + 1),
                         (200, {"stored": False}))
        status, _, data = request("GET", "/api/rooms/%s/events" % room, headers={"cookie": login("alice")})
        self.assertEqual(status, 200)
        stored = json.loads(data)
        self.assertEqual([e["webhook_id"] for e in stored], ids)
        self.assertEqual([e.get("seq") for e in stored], [None, 1, 2, 3])


class Tokens(unittest.TestCase):
    def test_a_logged_in_user_gets_an_hs256_token_roomcast_accepts(self):
        status, _, data = request("GET", "/api/roomcast-token", headers={"cookie": login("bob")})
        self.assertEqual(status, 200)
        claims = jwt.decode(data.decode(), JWT_SECRET, algorithms=["HS256"])
        self.assertEqual(claims["sub"], "bob")
        self.assertEqual(claims["rooms"], ["demo", "project-*"])
        self.assertEqual(claims["edit"], [])
        self.assertGreater(claims["exp"], time.time())
        self.assertEqual(request("GET", "/api/roomcast-token")[0], 401)


class WsClient:
    """A minimal RFC 6455 client (text frames, masked), enough to drive roomcast."""

    def __init__(self, port, path, headers=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        head = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, key))
        head += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
        self.sock.sendall(head.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        status_line, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status = int(status_line.split(b" ", 2)[1]) if status_line else 0

    def send(self, obj):
        payload = json.dumps(obj).encode()
        mask = secrets.token_bytes(4)
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("roomcast closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._read(2), "big")
            elif n == 127:
                n = int.from_bytes(self._read(8), "big")
            payload = self._read(n)
            if b0 & 0x0F == 0x1:
                return json.loads(payload)
            if b0 & 0x0F == 0x8:
                raise EOFError("close frame")

    def recv_type(self, kind):
        for _ in range(100):
            msg = self.recv()
            if msg.get("type") == kind:
                return msg
        raise AssertionError("no %s message" % kind)

    def close(self):
        self.sock.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + (1000).to_bytes(2, "big"))
        self.sock.close()


@unittest.skipUnless(ROOMCAST, "needs the roomcast binary (argv[2])")
class EndToEnd(unittest.TestCase):
    """roomcast with all three hooks pointed at this backend, signed with the same secret."""

    @classmethod
    def setUpClass(cls):
        cls.proc = subprocess.Popen(
            [ROOMCAST, "--listen", "127.0.0.1:0", "--threads", "1",
             "--auth-hook", "http://127.0.0.1:%d/roomcast/auth" % port,
             "--edit-hook", "http://127.0.0.1:%d/roomcast/edit" % port,
             "--webhook", "http://127.0.0.1:%d/roomcast/webhook" % port],
            env={"ROOMCAST_HOOK_SECRET": HOOK_SECRET, "PATH": os.environ.get("PATH", ""),
                 "ASAN_OPTIONS": "detect_leaks=0"},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = cls.proc.stdout.readline()  # "roomcast listening on HOST:PORT"
        if "listening on" not in line:
            raise RuntimeError("roomcast did not start: %r" % line)
        cls.port = int(line.strip().rsplit(":", 1)[1])

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(15)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.proc.stdout.close()

    def test_cookie_identity_veto_rewrite_and_every_event_stored_once(self):
        room = "project-e2e-%s" % secrets.token_hex(4)
        alice = login("alice")
        def upgrade_status(path, headers=()):
            client = WsClient(self.port, path, headers)
            client.sock.close()
            return client.status
        self.assertEqual(upgrade_status("/ws/" + room), 401, "no cookie: the backend says 401")
        self.assertEqual(upgrade_status("/ws/secret", [("Cookie", login("bob"))]), 403)
        self.assertEqual(request("PUT", "/api/rooms/%s/locks/B2" % room, headers={"cookie": alice})[0], 204)

        ws = WsClient(self.port, "/ws/" + room, [("Cookie", alice)])
        self.assertEqual(ws.status, 101)
        ws.send({"type": "join", "user": {"id": "mallory"}})
        welcome = ws.recv_type("welcome")
        self.assertEqual(welcome["user"]["id"], "alice", "the cookie says who this is, not the join")

        ws.send({"type": "edit", "building": "B2", "op": "move", "data": {"x": 1}, "id": "e1"})
        rejected = ws.recv()
        self.assertEqual((rejected["type"], rejected["code"], rejected["reason"]),
                         ("error", "rejected", "building B2 is locked"))
        ws.send({"type": "edit", "building": "B1", "op": "rename", "data": {"name": "  Hall  "}, "id": "e2"})
        stored = ws.recv()
        self.assertEqual((stored["type"], stored["data"]["name"]), ("edit", "Hall"))
        ack = ws.recv()
        self.assertEqual((ack["type"], ack["seq"], ack.get("rewritten")), ("ack", 1, True))
        ws.send({"type": "edit", "building": "B1", "op": "move", "data": {"x": 2}, "id": "e3"})
        self.assertEqual(ws.recv_type("ack")["seq"], 2)
        ws.close()

        deadline = time.monotonic() + 15
        events = []
        while time.monotonic() < deadline:
            status, _, data = request("GET", "/api/rooms/%s/events" % room, headers={"cookie": alice})
            events = json.loads(data) if status == 200 else []
            if events and events[-1]["type"] == "leave":
                break
            time.sleep(0.1)
        self.assertEqual([e["type"] for e in events], ["join", "edit", "edit", "leave"])
        self.assertEqual([e.get("seq") for e in events], [None, 1, 2, None])
        self.assertEqual(events[1]["data"], {"name": "Hall"}, "the backend stores the edit as stored (rewritten)")
        self.assertEqual(events[1]["user"]["id"], "alice")
        self.assertEqual(events[1]["webhook_id"], "edit:%s:%s:1" % (room, welcome["epoch"]))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
