"""Every route of a real server against its own OpenAPI schema (schemathesis generates the
requests, bounded in count): no request, however odd, gets a 5xx or a traceback, and every
error body is the one-line JSON the API promises."""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from arena.server.process import ServerProcess


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("contract"), "--ladder", "ipd")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(live):
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_keeps_its_contract(case, live):
    response = case.call(headers={"Authorization": f"Bearer {live.token}"}, timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"], body
