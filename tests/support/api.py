"""The lender API from a test: an HTTP client that never raises on a status."""
import json
import urllib.error
import urllib.request


class Http:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, key=None):
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read()), response.headers["X-Request-Id"]
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read()), exc.headers.get("X-Request-Id")
        except OSError:  # not listening yet
            return 0, {}, None

    def upload(self, path, key, data: bytes, content_type: str):
        """(status, JSON body) of a POST of raw bytes (a provider's export)."""
        request = urllib.request.Request(self.base + path, data=data, method="POST", headers={
            "Authorization": f"Bearer {key}", "Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def send(self, method, path, key=None, body=None, headers=None, timeout: float = 15):
        """(status, JSON body) of any request; ``body`` goes as JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            **({"Authorization": f"Bearer {key}"} if key else {}), "Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

