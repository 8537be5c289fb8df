"""The Kubernetes manifests (deploy/k8s), checked offline: every object valid for the pinned
Kubernetes version under strict schemas (no unknown field), every kustomization complete,
and the example overlay's objects referring only to things it creates."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.support.kustomize import containers, manifests, render
from tests.support.stack import REPO

K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
"""The version the manifests are written for (kubernetes-validate's strict schemas)."""

OVERLAY = K8S / "overlays" / "example"
MANIFEST_FILES = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
KUSTOMIZATIONS = sorted(p.parent for p in K8S.rglob("kustomization.yaml"))


def name_of(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    objects = render(OVERLAY)
    by_name = {name_of(obj): obj for obj in objects}
    assert len(by_name) == len(objects), "two objects with the same kind and name"
    return by_name


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_is_valid_for_the_pinned_kubernetes(path: Path) -> None:
    objects = manifests(path)
    assert objects, f"{path} holds no object"
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_each_kustomization_lists_every_manifest_beside_it(folder: Path) -> None:
    listed = manifests(folder / "kustomization.yaml")[0].get("resources", [])
    assert all((folder / entry).exists() for entry in listed), listed
    beside = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert beside <= set(listed), f"not in {folder}/kustomization.yaml: {beside - set(listed)}"


def test_the_example_overlay_renders_to_valid_objects(rendered: dict[str, dict[str, Any]]) -> None:
    for obj in rendered.values():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    assert {
        "Deployment/gateway",
        "Deployment/inference",
        "Deployment/training-api",
        "Deployment/worker",
    } <= set(rendered)
    assert {"StatefulSet/redis", "StatefulSet/postgres", "Secret/tagloop-secrets"} <= set(rendered)
    namespaced = [obj for obj in rendered.values() if obj["kind"] != "Namespace"]
    assert {obj["metadata"]["namespace"] for obj in namespaced} == {"tagloop"}
    images = {c["image"] for obj in rendered.values() for c in containers(obj)}
    assert not any(image.startswith("tagloop-") for image in images), images


def referenced(obj: dict[str, Any]) -> set[str]:
    """Kind/name of every ConfigMap, Secret and claim a workload's pods use."""
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    names = {
        f"PersistentVolumeClaim/{v['persistentVolumeClaim']['claimName']}" for v in spec.get("volumes", [])
    }
    for container in containers(obj):
        names |= {f"ConfigMap/{e['configMapRef']['name']}" for e in container.get("envFrom", [])}
        for env in container.get("env", []):
            if "secretKeyRef" in env.get("valueFrom", {}):
                names.add(f"Secret/{env['valueFrom']['secretKeyRef']['name']}")
    return names


def test_every_reference_resolves(rendered: dict[str, dict[str, Any]]) -> None:
    for obj in rendered.values():
        missing = referenced(obj) - set(rendered)
        assert not missing, f"{name_of(obj)} refers to {missing}"
    secret_keys = set(rendered["Secret/tagloop-secrets"]["data"])
    used_keys = {
        env["valueFrom"]["secretKeyRef"]["key"]
        for obj in rendered.values()
        for container in containers(obj)
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    assert used_keys <= secret_keys, used_keys - secret_keys
    assert {"admin-token", "redis-password"} <= used_keys


def test_every_service_selects_pods(rendered: dict[str, dict[str, Any]]) -> None:
    pod_labels = [
        obj["spec"]["template"]["metadata"]["labels"]
        for obj in rendered.values()
        if obj["kind"] in {"Deployment", "StatefulSet"}
    ]
    for obj in rendered.values():
        if obj["kind"] == "Service":
            selector = obj["spec"]["selector"].items()
            assert any(selector <= labels.items() for labels in pod_labels), name_of(obj)


def test_inference_scales_on_cpu_and_is_ready_on_health(rendered: dict[str, dict[str, Any]]) -> None:
    hpa = rendered["HorizontalPodAutoscaler/inference"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "inference" and hpa["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    [container] = containers(rendered["Deployment/inference"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "memory" in container["resources"]["requests"] and "cpu" in container["resources"]["requests"]


def test_models_and_data_are_shared_volumes(rendered: dict[str, dict[str, Any]]) -> None:
    for claim in ("tagloop-models", "tagloop-data"):
        assert rendered[f"PersistentVolumeClaim/{claim}"]["spec"]["accessModes"] == ["ReadWriteMany"]
