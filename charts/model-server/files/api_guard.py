"""Requires the model server's API key on every path but /health and /metrics (docs/flywheel.md).

Loaded into vLLM with `--middleware=api_guard.RequireApiKey` (the chart mounts this file and puts
its folder on PYTHONPATH). vLLM's own `--api-key` / VLLM_API_KEY check guards only paths that
start with /v1, /v2, /inference or /cohere (the pinned vLLM's serve/middleware/authenticate.py).
The same server also answers, without a key, /invocations (inference), /tokenize, /pooling,
/score, /rerank, /classify, and, with VLLM_ALLOW_RUNTIME_LORA_UPDATING, the SageMaker-style
`POST /adapters` and `DELETE /adapters/{name}`, which load and unload LoRA adapters exactly like
/v1/load_lora_adapter. This middleware closes all of them: a request without
`Authorization: Bearer <VLLM_API_KEY>` gets 401 unless its path is /health (the kubelet's
probes) or /metrics (Prometheus). Same comparison as vLLM's (scheme case-insensitive, SHA-256
digests compared in constant time). Pure ASGI, standard library only; the key is read from the
environment once and never logged.
"""

import hashlib
import hmac
import json
import os

PUBLIC = ("/health", "/metrics")


def is_public(path):
    """Exact, or below on a segment boundary: /healthz is not /health."""
    return any(path == p or path.startswith(p + "/") for p in PUBLIC)


class RequireApiKey:
    def __init__(self, app):
        key = os.environ.get("VLLM_API_KEY") or ""
        if not key:
            raise RuntimeError("VLLM_API_KEY: expected the model server's API key, found none")
        self.app = app
        self.digest = hashlib.sha256(key.encode("utf-8")).digest()

    def authorized(self, scope):
        for name, value in scope.get("headers") or []:
            if name.lower() == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer":
                    return False
                return hmac.compare_digest(hashlib.sha256(token.encode("utf-8")).digest(), self.digest)
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        path = scope["path"]
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root) :]
        if is_public(path) or self.authorized(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            # closing before accepting: the server answers the handshake with 403
            return await send({"type": "websocket.close", "code": 1008})
        body = json.dumps({"error": "Unauthorized"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
