#!/usr/bin/env python3
"""A stand-in for Bitnami's controller's /v1/rotate, for the CLI's fallback test: prints its port on stdout, then
answers every POST as Bitnami's would read it: a v1 List is not a SealedSecret, so it comes back as an empty one
(200, no List); one SealedSecret comes back as it was sent (the test only counts the requests and checks order).
Each request's kind ("List" or "SealedSecret") is appended to the log file named by its one argument."""
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with open(sys.argv[1], "a") as log:
            log.write(body.get("kind", "?") + "\n")
        if body.get("kind") == "List":
            body = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {}, "spec": {"encryptedData": {}}}
        answer = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *arguments):
        pass


signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
