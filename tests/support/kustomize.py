"""An offline rendering of the kustomizations in deploy/k8s, for their tests: the subset of
kustomize they use (resources, namespace, labels, images, replicas, secretGenerator with
literals), and a refusal of anything else, so that nothing is silently left out.

No kustomize or kubectl is needed (Debian has none recent enough); `kubectl kustomize`
renders the same objects.
"""

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

UNDERSTOOD = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "labels",
    "images",
    "replicas",
    "secretGenerator",
}
CLUSTER_WIDE = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding"}


class UnsupportedKustomization(Exception):
    """A kustomization uses a feature this renderer does not apply."""


def manifests(path: Path) -> list[dict[str, Any]]:
    """The objects of one YAML file (several documents allowed, empty ones skipped)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(folder: Path) -> list[dict[str, Any]]:
    """The objects that `kubectl kustomize folder` would print."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - UNDERSTOOD
    if unknown:
        raise UnsupportedKustomization(f"{folder}: {sorted(unknown)}")
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = folder / entry
        objects += render(target) if target.is_dir() else copy.deepcopy(manifests(target))
    objects += [_secret(generator) for generator in spec.get("secretGenerator", [])]
    for obj in objects:
        _apply(obj, spec)
    return objects


def _secret(generator: dict[str, Any]) -> dict[str, Any]:
    if set(generator) - {"name", "literals", "options"} or generator.get("options") != {
        "disableNameSuffixHash": True
    }:
        raise UnsupportedKustomization(f"secretGenerator {generator}")
    pairs = dict(literal.split("=", 1) for literal in generator["literals"])
    data = {key: base64.b64encode(value.encode()).decode() for key, value in pairs.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": generator["name"]}, "data": data}


def _apply(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    metadata = obj.setdefault("metadata", {})
    if "namespace" in spec and obj["kind"] not in CLUSTER_WIDE:
        metadata["namespace"] = spec["namespace"]
    for label in spec.get("labels", []):
        if set(label) != {"pairs"}:
            raise UnsupportedKustomization(f"labels {label}")
        metadata.setdefault("labels", {}).update(label["pairs"])
    for change in spec.get("replicas", []):
        if obj["kind"] in {"Deployment", "StatefulSet"} and metadata["name"] == change["name"]:
            obj["spec"]["replicas"] = change["count"]
    for container in containers(obj):
        for image in spec.get("images", []):
            if container["image"] == image["name"]:
                container["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a workload's pod template; none for other kinds."""
    template = obj.get("spec", {}).get("template", {})
    return template.get("spec", {}).get("containers", [])
