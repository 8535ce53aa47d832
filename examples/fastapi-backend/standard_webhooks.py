"""Standard Webhooks signatures (https://www.standardwebhooks.com), standard library only.

roomcast signs every request to this backend (auth hook, edit hook, webhooks) with the
secret given to it as --hook-secret-file; this module checks them the way any Standard
Webhooks library does, and signs (for the tests).
"""

import base64
import hashlib
import hmac
import time

TOLERANCE_SECONDS = 5 * 60


class InvalidSignature(Exception):
    pass


def key_of(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    secret = secret.strip()
    if not secret.startswith("whsec_"):
        raise ValueError("the hook secret must start with whsec_")
    body = secret[len("whsec_"):]
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify(key: bytes, headers, body: bytes, now=None) -> str:
    """Returns the webhook-id of a correctly signed, fresh request; raises InvalidSignature."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isdigit():
        raise InvalidSignature("webhook-timestamp is not Unix seconds")
    now = int(time.time()) if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise InvalidSignature("webhook-timestamp too old or too new (replay?)")
    expected = sign(key, msg_id, int(timestamp), body).split(",", 1)[1]
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return msg_id
    raise InvalidSignature("no matching signature")
