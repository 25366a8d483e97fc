"""A webhook receiver as a client app would write one: every delivery is verified with the
Standard Webhooks reference library before it is accepted.

    python receiver.py STATE_DIR

Prints the port it listens on (127.0.0.1), then serves until killed. In STATE_DIR:
- `secrets.json` (written by the test): {"<path>": ["whsec_...", ...]}; a delivery to <path>
  is accepted when it verifies with any of them;
- `down` (present or not): while it exists, every delivery is answered 503;
- `slow` (present or not): while it exists, every delivery takes 200 ms more to answer;
- `deliveries.jsonl` (written here): one line per request: path, webhook-id, whether it
  verified (and with which secret), the status answered, the body, and when the request
  arrived and when its answer was ready (seconds since the epoch).
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

STATE = sys.argv[1]
LOG_LOCK = threading.Lock()


def secrets_for(path):
    try:
        with open(os.path.join(STATE, "secrets.json")) as f:
            return json.load(f).get(path, [])
    except FileNotFoundError:
        return []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        started = time.time()
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified_with = None
        error = None
        for index, secret in enumerate(secrets_for(self.path)):
            try:
                Webhook(secret).verify(body, headers)
                verified_with = index
                break
            except WebhookVerificationError as e:
                error = str(e)
        if os.path.exists(os.path.join(STATE, "down")):
            status = 503
        elif verified_with is None:
            status = 401
        else:
            status = 204
        if os.path.exists(os.path.join(STATE, "slow")):
            time.sleep(0.2)
        record = {
            "started": started,
            "path": self.path,
            "id": headers.get("webhook-id"),
            "signatures": len(headers.get("webhook-signature", "").split()),
            "verified": verified_with is not None,
            "verified_with": verified_with,
            "error": error,
            "status": status,
            "body": json.loads(body or b"null"),
        }
        # Logged before the answer, so the log's order is the order deliveries were accepted.
        record["finished"] = time.time()
        with LOG_LOCK, open(os.path.join(STATE, "deliveries.jsonl"), "a") as log:
            log.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
