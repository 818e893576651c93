"""docs/k8s/*.yaml: parseable YAML with the Kubernetes / KServe kinds and API versions the docs describe."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs" / "k8s"
API_VERSIONS = {
    "ServingRuntime": "serving.kserve.io/v1alpha1",
    "InferenceService": "serving.kserve.io/v1beta1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
}


# manifest file
@pytest.mark.parametrize("path", sorted(DOCS.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_kinds_and_api_versions(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs
    for doc in docs:
        assert API_VERSIONS[doc["kind"]] == doc["apiVersion"]
        assert doc["metadata"]["name"]
        assert "spec" in doc or doc["kind"] == "ConfigMap"
        if doc["kind"] == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["name"] and container["image"]
        if doc["kind"] == "ConfigMap":
            for text in doc["data"].values():
                yaml.safe_load(text)  # the embedded Envoy config is YAML too


def test_all_kinds_present() -> None:
    kinds = {d["kind"] for p in DOCS.glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d}
    assert {"ServingRuntime", "InferenceService", "Deployment", "Service"} <= kinds
