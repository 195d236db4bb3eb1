"""Schemathesis reads the API's OpenAPI schema and sends requests that fit it (positive) and requests that break it
(negative: wrong types, missing fields, odd bytes for images): no request may get a 5xx. 100 of each, about
10 s in all.

Schemathesis's own pytest integration loads the schema from a fixture through a pytest internal that pytest 9 no
longer has, so its Hypothesis strategy is used directly (``schema.as_strategy``), which is what that integration
runs underneath."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from serve_support import need

schemathesis = need("schemathesis", "pip install -e '.[dev]'")
from schemathesis.generation import GenerationMode  # noqa: E402 - after the check that schemathesis is there


@pytest.mark.slow
@pytest.mark.parametrize("part", ["served", "live"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_generated_request_gets_a_server_error(app, mode, part):
    """The routes of the served models and those of live training fuzzed apart, 100 cases each, so that each part
    gets its share of the cases."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema = schema.exclude(path_regex="^/api/train") if part == "served" else schema.include(path_regex="^/api/train")
    seen = set()

    @given(case=schema.as_strategy(mode))
    # derandomize: the same 100 cases every run, so whether some generated image gets classified is not luck
    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True)
    def check(case):
        response = case.call()
        seen.add((case.method, case.path, response.status_code))
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} " \
                                           f"{response.text[:500]}"

    try:
        check()
    finally:
        app.state.served.live.close()            # a live-training session the generated requests started
    if part == "live":
        assert {path for _, path, _ in seen} >= {"/api/train", "/api/train/{session_id}/step"}
        return
    assert "/api/predict" in {path for _, path, _ in seen}
    if mode == GenerationMode.POSITIVE:     # every route was called, and some generated images were classified
        assert {path for _, path, _ in seen} >= {"/api/health", "/api/models/{name}", "/api/test-images/{index}"}
        assert any(status == 200 for _, path, status in seen if path == "/api/predict")
