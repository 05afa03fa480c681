import threading

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from organizer_pipeline.resources.http import (
    ApiAuthError,
    ApiBadRequest,
    ApiClient,
    ApiUnavailable,
    RateLimiter,
    RetryPolicy,
    parse_retry_after,
)
from organizer_pipeline.sandbox.server import serve_in_thread


class Script:
    """Answers each call with the next scripted (status, headers); the last one repeats."""

    def __init__(self, *answers):
        self.answers, self.calls = list(answers), 0
        self.lock = threading.Lock()

    async def handle(self, request):
        with self.lock:
            status, headers = self.answers[min(self.calls, len(self.answers) - 1)]
            self.calls += 1
        return JSONResponse({"status": status}, status_code=status, headers=headers)


def client_for(root, attempts=4, sleeps=None):
    return ApiClient(
        root,
        retry=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.02),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def serve(script):
    return serve_in_thread(Starlette(routes=[Route("/x", script.handle, methods=["GET", "POST"])]))


def test_retries_429_and_5xx_then_succeeds_honouring_retry_after():
    script = Script((429, {"Retry-After": "7"}), (503, {}), (200, {}))
    sleeps = []
    with serve(script) as root:
        client = client_for(root, sleeps=sleeps)
        assert client.request("GET", "/x").status_code == 200
    assert script.calls == 3 and client.stats.retries == 2
    assert sleeps[0] >= 7  # never shorter than Retry-After


def test_gives_up_with_a_clear_error():
    with serve(Script((500, {}))) as root:
        with pytest.raises(ApiUnavailable, match="after 3 attempts"):
            client_for(root, attempts=3).request("GET", "/x")


def test_auth_and_bad_request_are_not_retried():
    auth = Script((401, {}))
    with serve(auth) as root:
        with pytest.raises(ApiAuthError, match="credentials"):
            client_for(root).request("GET", "/x")
    assert auth.calls == 1
    bad = Script((400, {}))
    with serve(bad) as root:
        with pytest.raises(ApiBadRequest, match="HTTP 400"):
            client_for(root).request("GET", "/x")
    assert bad.calls == 1


def test_connection_refused_is_retried_then_reported():
    from organizer_pipeline.db.embedded import free_port

    with pytest.raises(ApiUnavailable, match="ConnectionError"):
        client_for(f"http://127.0.0.1:{free_port()}", attempts=2).request("GET", "/x")


def test_rate_limiter_spaces_calls_evenly():
    now = [0.0]
    limiter = RateLimiter(20, per=60, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(21):
        limiter.acquire()
    assert now[0] == pytest.approx(60.0)  # 21 calls at 20/min: the 21st starts at t=60s
    limiter.push_back(30)
    limiter.acquire()
    assert now[0] >= 90


def test_parse_retry_after():
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
