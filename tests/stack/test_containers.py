"""What the running containers cannot show: the defaults users get from the compose file
and Dockerfiles (official images, 127.0.0.1, the native ports, exact pins).
test_compose.py builds and runs them with local base images instead."""

import re

import pytest
import yaml
from tagloop.settings import CommonSettings

from gateway.render import PLACEHOLDER, limit_values, native_values, render
from tests.support.stack import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# The defaults of every setting, as the native run gets them (no environment).
ENV_DEFAULTS = {
    f"TAGLOOP_{name.upper()}": str(value)
    for name, value in CommonSettings.model_validate({}).model_dump().items()
}


OFFICIAL = {
    "TAGLOOP_PYTHON_IMAGE": "python:3.11-slim",
    "TAGLOOP_NGINX_IMAGE": "nginx:",
    "TAGLOOP_REDIS_IMAGE": "redis:",
}


def default_of(value: str) -> str:
    """`${NAME:-default}` -> default (what compose substitutes when NAME is unset)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_base_images_default_to_the_official_ones() -> None:
    images = {
        "TAGLOOP_NGINX_IMAGE": SERVICES["gateway"]["image"],
        "TAGLOOP_REDIS_IMAGE": SERVICES["redis"]["image"],
        "TAGLOOP_PYTHON_IMAGE": SERVICES["inference"]["build"]["args"]["PYTHON_IMAGE"],
    }
    for variable, value in images.items():
        assert value.startswith(f"${{{variable}:-"), value
        assert default_of(value).startswith(OFFICIAL[variable]), value
    for service in ("inference", "training-api", "worker"):
        assert SERVICES[service]["build"]["args"]["PYTHON_IMAGE"] == images["TAGLOOP_PYTHON_IMAGE"]
        assert "ARG PYTHON_IMAGE=python:3.11-slim\n" in dockerfile_of(service)


def test_compose_waits_for_healthy_dependencies() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule == {"condition": "service_healthy"}, (name, dependency)
            has_check = "healthcheck" in SERVICES[dependency] or "HEALTHCHECK" in dockerfile_of(dependency)
            assert has_check, f"{dependency} has no healthcheck"


def dockerfile_of(service: str) -> str:
    build = SERVICES[service].get("build")
    return (REPO / build["dockerfile"]).read_text() if build else ""


def test_gateway_is_published_on_localhost_at_the_native_port_by_default() -> None:
    (published,) = SERVICES["gateway"]["ports"]
    assert default_of(published) == f"127.0.0.1:{ENV_DEFAULTS['TAGLOOP_GATEWAY_PORT']}:8080"
    # Inside its container the gateway listens on every interface of the container.
    assert SERVICES["gateway"]["environment"]["TAGLOOP_LISTEN"] == "8080"
    assert SERVICES["inference"]["expose"] == [ENV_DEFAULTS["TAGLOOP_INFERENCE_PORT"]]
    assert SERVICES["training-api"]["expose"] == [ENV_DEFAULTS["TAGLOOP_TRAINING_PORT"]]
    assert f'--port", "{ENV_DEFAULTS["TAGLOOP_INFERENCE_PORT"]}' in dockerfile_of("inference")
    assert not any("ports" in SERVICES[s] for s in SERVICES if s != "gateway"), (
        "only the gateway is published"
    )


def test_compose_settings_are_the_services_settings() -> None:
    fields = {f"TAGLOOP_{name.upper()}" for name in CommonSettings.model_fields}
    for name in ("inference", "training-api", "worker"):
        env = SERVICES[name]["environment"]
        assert set(env) <= fields, f"{name}: unknown settings {set(env) - fields}"
        mounts = {v.split(":")[1] for v in SERVICES[name]["volumes"]}
        assert {env["TAGLOOP_MODELS_DIR"], env["TAGLOOP_DATA_DIR"]} <= mounts


@pytest.mark.parametrize("name", ["inference", "training"])
def test_requirements_are_exact_pins(name: str) -> None:
    lines = (REPO / f"requirements/{name}.txt").read_text().lower().splitlines()
    pins = [line for line in lines if line and not line.startswith(("#", "-r "))]
    for line in pins:
        assert re.fullmatch(r"[a-z0-9_.\-]+==[\w.]+( ; .+)?", line), f"not an exact pin: {line}"
    if name == "inference":
        assert not [p for p in pins if p.startswith(("tensorflow", "keras", "tf2onnx"))]


def test_native_render_fills_every_placeholder() -> None:
    for name in ("tagloop.conf.template", "nginx.conf.template"):
        text = render((REPO / "gateway" / name).read_text(), native_values({"TAGLOOP_RUN_DIR": "/tmp/x"}))
        assert not PLACEHOLDER.search(text)


def test_every_service_restarts_after_a_crash() -> None:
    # All five are long-running (none is a one-shot job); tests/stack/test_compose.py crashes
    # the worker and inference and sees Docker start them again.
    assert {name: service.get("restart") for name, service in SERVICES.items()} == dict.fromkeys(
        SERVICES, "unless-stopped"
    )


def test_containers_get_the_request_limits_of_the_settings() -> None:
    """One source: the containers' gateway is given the values render.py takes from CommonSettings."""
    limits = limit_values(CommonSettings.model_validate({}))
    gateway_env = SERVICES["gateway"]["environment"]
    dockerfile = (REPO / "gateway" / "Dockerfile").read_text()
    for name, value in limits.items():
        assert gateway_env[name] == value, name
        assert re.search(rf'{name}=("{re.escape(value)}"|{re.escape(value)})\s', dockerfile), name
