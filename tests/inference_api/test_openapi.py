"""The OpenAPI schema declares every status a route really sends, with the body it sends."""

import pytest
from fastapi.testclient import TestClient

ERROR_BODY = "#/components/schemas/ErrorBody"


def response_schema(openapi: dict, path: str, method: str, status: str) -> str:
    reply = openapi["paths"][path][method]["responses"][status]
    return reply["content"]["application/json"]["schema"]["$ref"]


@pytest.mark.parametrize("path", ["/predict", "/batch_predict"])
def test_openapi_declares_the_error_replies_of_predictions(tiny_client: TestClient, path: str) -> None:
    openapi = tiny_client.get("/openapi.json").json()
    declared = set(openapi["paths"][path]["post"]["responses"])
    assert declared == {"200", "400", "401", "403", "413", "415", "422", "503"}
    for status in declared - {"200"}:
        assert response_schema(openapi, path, "post", status) == ERROR_BODY


def test_openapi_has_no_validation_error_shape_the_service_never_sends(tiny_client: TestClient) -> None:
    schemas = tiny_client.get("/openapi.json").json()["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorBody"]["required"] == ["error", "code"]


def test_openapi_declares_health_503_with_the_health_body(tiny_client: TestClient) -> None:
    openapi = tiny_client.get("/openapi.json").json()
    assert set(openapi["paths"]["/health"]["get"]["responses"]) == {"200", "503"}
    assert response_schema(openapi, "/health", "get", "503") == "#/components/schemas/HealthResponse"
