"""Every route of a real server against its own OpenAPI schema (schemathesis generates the
requests from it, a bounded number per route): no request, however odd, gets a 5xx or a
traceback, and every error body is the one-line JSON the API promises."""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from arena.server.process import ServerProcess

EXAMPLES = 40  # per route, drawn the same way every run (derandomized): CI does not flake


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("contract"), "--ladder", "ipd")
    yield server
    server.stop()


def test_every_route_keeps_its_contract(live):
    # Loaded here, not at import: the schema comes from the running server.
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12, [op.label for op in operations]
    seen = {}
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {live.token}"}, timeout=30)
            seen.setdefault(case.operation.label, set()).add(response.status_code)
            assert response.status_code < 500, (case.operation.label, case.formatted_path, response.status_code, response.text[:300])
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"], body

        check()
    assert set(seen) == {op.label for op in operations}
