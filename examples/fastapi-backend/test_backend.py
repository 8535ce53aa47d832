#!/usr/bin/python3
"""The example backend under Debian's uvicorn on an ephemeral 127.0.0.1 port, sent the
requests roomcast sends (integration contract sections 1-4), signed by roomcast's own C++
signer when its path is given (argv[1]), else by standard_webhooks.sign.

    /usr/bin/python3 test_backend.py [path/to/roomcast-webhook-sign]
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


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
