"""BrevoApi against small stand-ins of Brevo answering the wrong shape, and the list paging."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from organizer_pipeline.resources.brevo import LIST_PAGE_SIZE, BrevoApi
from organizer_pipeline.resources.http import ApiError, RetryPolicy
from organizer_pipeline.sandbox.brevo import create_app
from organizer_pipeline.sandbox.server import serve_in_thread


def api(root: str) -> BrevoApi:
    return BrevoApi(f"{root}/v3", "xkeysib-test", 0, retry=RetryPolicy(2, 0.001, 0.01))


def test_an_answer_of_the_wrong_shape_is_one_clear_error():
    async def odd(request):
        return JSONResponse({"lists": [{"nom": "x"}], "count": 1})

    with serve_in_thread(Starlette(routes=[Route("/v3/contacts/lists", odd)])) as root:
        with pytest.raises(ApiError, match="unexpected answer to GET contacts/lists"):
            api(root).lists()


def test_lists_are_read_page_by_page():
    app = create_app(rate_limit=0)
    sim = app.state.sim
    sim.folders[1] = "f"
    for n in range(LIST_PAGE_SIZE + 3):
        sim.lists[100 + n] = {"name": f"list {n}", "folderId": 1}
    with serve_in_thread(app) as root:
        found = api(root).lists()
    assert len(found) == LIST_PAGE_SIZE + 3 and found["list 52"] == 152
    assert len(sim.calls_to("GET", "contacts/lists")) == 2
