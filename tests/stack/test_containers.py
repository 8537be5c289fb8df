"""The container setup, checked as far as a machine without a Docker engine can."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from render import PLACEHOLDER, native_values, render
from support.stack import REPO
from tagloop.settings import CommonSettings

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
# The defaults of every setting, as the native run gets them (no environment).
ENV_DEFAULTS = {
    f"TAGLOOP_{name.upper()}": str(value)
    for name, value in CommonSettings.model_validate({}).model_dump().items()
}


def test_compose_has_the_five_services() -> None:
    assert set(SERVICES) == {"gateway", "inference", "training-api", "worker", "redis"}
    assert SERVICES["gateway"]["image"].startswith("nginx:")


def test_compose_waits_for_healthy_dependencies() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule == {"condition": "service_healthy"}, (name, dependency)
            has_check = "healthcheck" in SERVICES[dependency] or "HEALTHCHECK" in dockerfile_of(dependency)
            assert has_check, f"{dependency} has no healthcheck"


def dockerfile_of(service: str) -> str:
    build = SERVICES[service].get("build")
    return (REPO / build["dockerfile"]).read_text() if build else ""


def test_compose_ports_match_the_native_run() -> None:
    assert SERVICES["gateway"]["ports"] == [f"{ENV_DEFAULTS['TAGLOOP_GATEWAY_PORT']}:8080"]
    assert SERVICES["gateway"]["environment"]["TAGLOOP_GATEWAY_PORT"] == ENV_DEFAULTS["TAGLOOP_GATEWAY_PORT"]
    assert SERVICES["inference"]["expose"] == [ENV_DEFAULTS["TAGLOOP_INFERENCE_PORT"]]
    assert SERVICES["training-api"]["expose"] == [ENV_DEFAULTS["TAGLOOP_TRAINING_PORT"]]
    assert f'--port", "{ENV_DEFAULTS["TAGLOOP_INFERENCE_PORT"]}' in dockerfile_of("inference")


def test_compose_settings_are_the_services_settings() -> None:
    fields = {f"TAGLOOP_{name.upper()}" for name in CommonSettings.model_fields}
    for name in ("inference", "training-api", "worker"):
        env = SERVICES[name]["environment"]
        assert set(env) <= fields, f"{name}: unknown settings {set(env) - fields}"
        mounts = {v.split(":")[1] for v in SERVICES[name]["volumes"]}
        assert {env["TAGLOOP_MODELS_DIR"], env["TAGLOOP_DATA_DIR"]} <= mounts
    # The native run names the same settings.
    assert {"TAGLOOP_MODELS_DIR", "TAGLOOP_DATA_DIR", "TAGLOOP_REDIS_URL", "TAGLOOP_INFERENCE_URL"} <= set(
        ENV_DEFAULTS
    )


def test_models_and_data_are_named_volumes_shared_by_python_services() -> None:
    assert {"models", "data"} <= set(COMPOSE["volumes"])
    for name in ("inference", "training-api", "worker"):
        assert {"models:/models", "data:/data"} <= set(SERVICES[name]["volumes"])


@pytest.mark.parametrize("service", ["inference", "training-api"])
def test_dockerfile_is_slim_non_root_and_pinned(service: str) -> None:
    text = dockerfile_of(service)
    assert all(
        line.split()[1].startswith("python:3.11-slim")
        for line in text.splitlines()
        if line.startswith("FROM")
    )
    assert re.search(r"^USER tagloop$", text, re.M)
    assert "requirements/" in text and "pip install -r" in text
    final_stage = text.split("\nFROM ")[-1]
    assert "apt-get" not in final_stage and "gcc" not in final_stage


def test_inference_image_carries_no_tensorflow() -> None:
    text = dockerfile_of("inference")
    assert "training.txt" not in text
    lines = (REPO / "requirements/inference.txt").read_text().lower().splitlines()
    pins = [line for line in lines if not line.startswith("#")]
    assert not [p for p in pins if p.startswith(("tensorflow", "keras", "tf2onnx"))]
    for line in pins:
        assert re.fullmatch(r"[a-z0-9_.\-]+==[\w.]+", line), f"not an exact pin: {line}"


def test_gateway_template_passes_nginx_t_with_container_names(tmp_path: Path) -> None:
    gateway = SERVICES["gateway"]
    values = {k: str(v) for k, v in gateway["environment"].items() if k.startswith("TAGLOOP_")}
    template = (REPO / "gateway/tagloop.conf.template").read_text()
    assert set(PLACEHOLDER.findall(template)) == set(values), "compose must give every template value"
    (tmp_path / "default.conf").write_text(render(template, values))
    # What the official image's nginx.conf does around conf.d/*.conf.
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log stderr; events {{}}\n"
        f"http {{ include /etc/nginx/mime.types; include {tmp_path}/default.conf; }}\n"
    )
    result = subprocess.run(
        ["/usr/sbin/nginx", "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "inference:8001" in (tmp_path / "default.conf").read_text()


def test_native_render_fills_every_placeholder() -> None:
    for name in ("tagloop.conf.template", "nginx.conf.template"):
        text = render((REPO / "gateway" / name).read_text(), native_values({"TAGLOOP_RUN_DIR": "/tmp/x"}))
        assert not PLACEHOLDER.search(text)
