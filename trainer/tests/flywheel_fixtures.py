"""Capture records in the gateway's format (gateway/src/capture.ts), for the flywheel tests."""

from __future__ import annotations

from typing import Any


def capture(i: int, team: str = "research", model: str = "llama-chat", **over: Any) -> dict[str, Any]:
    rec = {
        "ts": f"2026-12-05T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        "requestId": f"req-{team}-{i}",
        "team": team,
        "subject": "alice",
        "model": model,
        "endpoint": "/v1/chat/completions",
        "request": {"model": model, "messages": [{"role": "user", "content": f"What is {i} plus {i}?"}]},
        "response": {"choices": [{"index": 0, "message": {"role": "assistant", "content": str(2 * i)}}]},
        "usage": {"promptTokens": 9, "completionTokens": 1},
    }
    rec.update(over)
    return rec
