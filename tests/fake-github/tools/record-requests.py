"""Records what a client sends: an HTTPS proxy that appends each request (method, path, Accept,
body) as a JSON line to LOG and forwards it to the fake GitHub at UPSTREAM.

    python3 record-requests.py http://127.0.0.1:PORT 18556 log.jsonl   # needs cert.pem/key.pem here
    SSL_CERT_FILE=cert.pem GH_HOST=localhost:18556 GH_ENTERPRISE_TOKEN=<fake token> gh pr status -R o/r

`tests/gh-2.23-requests.json` was made this way from gh 2.23 (one entry per distinct request).
"""

import http.server, ssl, sys, json, urllib.request, threading
UP = sys.argv[1]; PORT = int(sys.argv[2]); LOG = sys.argv[3]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        with lock, open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "accept": self.headers.get("accept"), "body": body.decode("utf-8", "replace")}) + "\n")
        req = urllib.request.Request(UP + self.path, data=body if n else None, method=self.command)
        for k, v in self.headers.items():
            if k.lower() not in ("host", "content-length", "connection", "accept-encoding"):
                req.add_header(k, v)
        try:
            r = urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            r = e
        data = r.read()
        self.send_response(r.status if hasattr(r, "status") else r.code)
        for k, v in r.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_HEAD = do_PATCH = do_PUT = do_DELETE = do
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("cert.pem", "key.pem")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
