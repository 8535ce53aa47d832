"""An app backend for roomcast: who is in a room, what they may change, and every edit stored.

Run it with Debian's uvicorn (see README.md):

    ROOMCAST_HOOK_SECRET=whsec_... ROOMCAST_JWT_SECRET=... uvicorn app:app --port 8000

Routes roomcast calls (all signed per Standard Webhooks, checked before anything else):
  POST /roomcast/auth     the auth hook: the session cookie -> identity and rights
  POST /roomcast/edit     the edit hook: vetoes edits to locked buildings, tidies names
  POST /roomcast/webhook  webhooks: stores edit/join/leave events once per webhook-id

Routes for people and the JS client (cookie `session`):
  GET  /login?user=alice  a demo login (no passwords: a demo) that sets the cookie
  GET  /api/roomcast-token an HS256 token for the JS client's getToken
  PUT/DELETE /api/rooms/{room}/locks/{building}  lock or unlock a building
  GET  /api/rooms/{room}/events  what the webhooks stored, in order
"""

import json
import os
import secrets
import sqlite3
import threading
import time
from http.cookies import SimpleCookie

import jwt
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

import standard_webhooks

# The demo's people: the rooms they may join and those where they may edit (protocol 1.2
# patterns: an id, or a prefix ending in '*').
USERS = {
    "alice": {"name": "Alice", "rooms": ["*"], "edit": ["*"]},
    "bob": {"name": "Bob", "rooms": ["demo", "project-*"], "edit": []},
}
SESSION_SECONDS = 8 * 3600
TOKEN_SECONDS = 15 * 60
MAX_NAME = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, user TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS locks (room TEXT NOT NULL, building TEXT NOT NULL, PRIMARY KEY (room, building));
CREATE TABLE IF NOT EXISTS events (
  webhook_id TEXT PRIMARY KEY,   -- Standard Webhooks id: the same on every retry
  type TEXT NOT NULL, room TEXT NOT NULL, epoch TEXT, seq INTEGER,
  body TEXT NOT NULL, received INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_room ON events (room, received);
"""


def allowed(patterns, room):
    return any(p == room or (p.endswith("*") and room.startswith(p[:-1])) for p in patterns)


def create_app(hook_secret: str, jwt_secret: str, db_path: str, roomcast_url: str = "http://127.0.0.1:8080/") -> FastAPI:
    key = standard_webhooks.key_of(hook_secret) if hook_secret else None
    db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    db.executescript(SCHEMA)
    db_lock = threading.Lock()  # FastAPI runs plain `def` routes on a thread pool
    app = FastAPI(title="roomcast example backend")

    def sql(query, args=()):
        with db_lock:
            return db.execute(query, args).fetchall()

    def user_of_cookie(cookie_header):
        if not cookie_header:
            return None
        cookie = SimpleCookie()
        try:
            cookie.load(cookie_header)
        except Exception:
            return None
        morsel = cookie.get("session")
        if morsel is None:
            return None
        rows = sql("SELECT user, expires FROM sessions WHERE token = ?", (morsel.value,))
        if not rows or rows[0][1] < time.time():
            return None
        return rows[0][0], rows[0][1]

    async def signed_json(request: Request):
        """The request's JSON once its Standard Webhooks signature checked out; 401 otherwise."""
        body = await request.body()
        if key is None:
            raise HTTPException(500, "ROOMCAST_HOOK_SECRET is not set: unsigned hooks are refused")
        try:
            standard_webhooks.verify(key, request.headers, body)
        except standard_webhooks.InvalidSignature as e:
            raise HTTPException(401, str(e))
        return json.loads(body)

    @app.post("/roomcast/auth")
    async def auth_hook(request: Request):
        payload = await signed_json(request)
        found = user_of_cookie(payload.get("headers", {}).get("cookie"))
        if found is None:
            return JSONResponse({"reason": "not logged in"}, status_code=401)
        user_id, expires = found
        user = USERS[user_id]
        if not allowed(user["rooms"], payload.get("room", "")):
            return JSONResponse({"reason": "not a member of this project"}, status_code=403)
        return {
            "user": {"id": user_id, "name": user["name"]},
            "rooms": user["rooms"],
            "edit": user["edit"],
            "expires_in": max(1, int(expires - time.time())),
        }

    @app.post("/roomcast/edit")
    async def edit_hook(request: Request):
        edit = await signed_json(request)
        if sql("SELECT 1 FROM locks WHERE room = ? AND building = ?", (edit.get("room"), edit.get("building"))):
            return JSONResponse({"reason": f"building {edit.get('building')} is locked"}, status_code=409)
        data = edit.get("data")
        # A rewrite: names are stored trimmed and at most MAX_NAME characters long.
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            tidy = data["name"].strip()[:MAX_NAME]
            if tidy != data["name"]:
                return {"data": {**data, "name": tidy}}
        return Response(status_code=204)

    @app.post("/roomcast/webhook")
    async def webhook(request: Request):
        event = await signed_json(request)
        webhook_id = request.headers["webhook-id"]
        with db_lock:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (webhook_id, type, room, epoch, seq, body, received) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (webhook_id, event.get("type", ""), event.get("room", ""), event.get("epoch"), event.get("seq"),
                 json.dumps(event, separators=(",", ":")), time.time_ns()))
            stored = cursor.rowcount == 1
        # 2xx either way: a duplicate (a retry after a lost answer) is already stored.
        return {"stored": stored}

    @app.get("/login")
    def login(user: str):
        if user not in USERS:
            raise HTTPException(404, "no such demo user")
        token = secrets.token_urlsafe(32)
        expires = int(time.time()) + SESSION_SECONDS
        sql("INSERT INTO sessions (token, user, expires) VALUES (?, ?, ?)", (token, user, expires))
        response = RedirectResponse(roomcast_url, status_code=303)
        # Cookies ignore ports, so the demo served by roomcast on another port sends it too.
        response.set_cookie("session", token, max_age=SESSION_SECONDS, httponly=True, samesite="lax")
        return response

    def current_user(request: Request):
        found = user_of_cookie(request.headers.get("cookie"))
        if found is None:
            raise HTTPException(401, "not logged in")
        return found[0]

    @app.get("/api/roomcast-token", response_class=PlainTextResponse)
    def roomcast_token(request: Request):
        if not jwt_secret:
            raise HTTPException(500, "ROOMCAST_JWT_SECRET is not set")
        user_id = current_user(request)
        user = USERS[user_id]
        claims = {"sub": user_id, "name": user["name"], "rooms": user["rooms"], "edit": user["edit"],
                  "exp": int(time.time()) + TOKEN_SECONDS}
        return jwt.encode(claims, jwt_secret, algorithm="HS256")

    @app.put("/api/rooms/{room}/locks/{building}", status_code=204)
    def lock(room: str, building: str, request: Request):
        if not allowed(USERS[current_user(request)]["edit"], room):
            raise HTTPException(403, "view only")
        sql("INSERT OR IGNORE INTO locks (room, building) VALUES (?, ?)", (room, building))

    @app.delete("/api/rooms/{room}/locks/{building}", status_code=204)
    def unlock(room: str, building: str, request: Request):
        if not allowed(USERS[current_user(request)]["edit"], room):
            raise HTTPException(403, "view only")
        sql("DELETE FROM locks WHERE room = ? AND building = ?", (room, building))

    @app.get("/api/rooms/{room}/events")
    def events(room: str, request: Request):
        if not allowed(USERS[current_user(request)]["rooms"], room):
            raise HTTPException(403, "not a member of this project")
        rows = sql("SELECT webhook_id, body FROM events WHERE room = ? ORDER BY received", (room,))
        return [{"webhook_id": w, **json.loads(b)} for w, b in rows]

    return app


def _secret_from_env(name):
    path = os.environ.get(name + "_FILE")
    if path:
        with open(path) as f:
            return f.read().strip()
    return os.environ.get(name, "")


app = create_app(
    hook_secret=_secret_from_env("ROOMCAST_HOOK_SECRET"),
    jwt_secret=_secret_from_env("ROOMCAST_JWT_SECRET"),
    db_path=os.environ.get("BACKEND_DB", "backend.sqlite3"),
    roomcast_url=os.environ.get("ROOMCAST_URL", "http://127.0.0.1:8080/"),
)
