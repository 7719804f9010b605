"""A bounded HTTP server on 127.0.0.1 for tests (fetch helpers, OpenAI-compatible stubs)."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JSONHandler(BaseHTTPRequestHandler):
    """Request handler base for stub servers: silent, with :meth:`reply` and :meth:`body`."""

    def log_message(self, *args):
        pass

    def body(self) -> dict:
        """The request's JSON body."""
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def reply(self, code: int, payload) -> None:
        """Answer ``payload``: a dict as JSON, a str or bytes as they are."""
        if isinstance(payload, dict):
            data = json.dumps(payload).encode()
        else:
            data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(code)
        if isinstance(payload, dict):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def serve(handler):
    """Serve ``handler`` on 127.0.0.1 at a random free port from a daemon thread; yields the base
    URL (``http://127.0.0.1:PORT``) and shuts the server down afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
