"""A bounded HTTP server on 127.0.0.1 for tests (fetch helpers, OpenAI-compatible stubs)."""

from __future__ import annotations

import contextlib
import threading
from http.server import ThreadingHTTPServer


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
