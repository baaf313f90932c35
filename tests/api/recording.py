"""An SDK client that records every request it sends (method, path, headers, body bytes)."""

from __future__ import annotations

from dataclasses import dataclass, field

import anthropic
import httpx

from tests.stack import API_KEY


@dataclass
class Recorder:
    requests: list[httpx.Request] = field(default_factory=list[httpx.Request])

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def last(self, method: str, path_part: str) -> httpx.Request:
        return next(r for r in reversed(self.requests) if r.method == method and path_part in r.url.path)


def recording_client(base_url: str) -> tuple[anthropic.Anthropic, Recorder]:
    recorder = Recorder()
    http_client = anthropic.DefaultHttpxClient(event_hooks={"request": [recorder]})
    client = anthropic.Anthropic(
        api_key=API_KEY, base_url=base_url, http_client=http_client, _strict_response_validation=True
    )
    return client, recorder
