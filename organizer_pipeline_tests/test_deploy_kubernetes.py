"""Kubernetes, checked rather than described: deploy/k8s against the Kubernetes API schemas (the ones
kubernetes-validate bundles), deploy/helm/values.yaml against the keys and types the official Dagster chart
documents (a spec derived from its values.schema.json, see data/dagster-chart-values-spec.json), and every
setting the code reads wired into the deploy files. All offline."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import requests
import yaml
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

from organizer_pipeline import settings
from organizer_pipeline.cvdw.partitions import DAGSTER_ENV
from organizer_pipeline.db import urls
from organizer_pipeline.sandbox.server import serve_in_thread
from organizer_pipeline.web.app import create_app

ROOT = settings.PROJECT_ROOT
K8S_DIR = ROOT / "deploy" / "k8s"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
CHART_SPEC = Path(__file__).parent / "data" / "dagster-chart-values-spec.json"
# The oldest and newest Kubernetes minor versions this project supports (and kubernetes-validate bundles).
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
# Settings that have no place in a Kubernetes deployment, and why.
NOT_APPLICABLE = {
    "ORGANIZER_PG_PORT": "port of the embedded server, which Kubernetes never runs (DATABASE_URL is set)",
    "ORGANIZER_STATE_DIR": "the image sets it (/app/.organizer, an emptyDir in the pods)",
    "DAGSTER_WEB_HOST": "the chart runs the Dagster webserver, with its own Service",
    "DAGSTER_WEB_PORT": "the chart runs the Dagster webserver, with its own Service",
}
# Read by libraries, not by settings.env: prometheus-client, and Dagster itself (cvdw/partitions.py DAGSTER_ENV).
NOT_SETTINGS = {"PROMETHEUS_MULTIPROC_DIR", *DAGSTER_ENV}


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str) -> list[dict]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


# -- Kubernetes API schemas -------------------------------------------------------------------------------
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_the_kubernetes_api(version):
    docs = manifests()
    assert {doc["kind"] for _, doc in docs} >= {"Deployment", "Service", "Ingress", "Job", "ConfigMap"}
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} {doc['kind']}: {'.'.join(map(str, error.path))}: {error.message}")


def test_kustomization_applies_every_manifest_and_the_secret():
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    files = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    [secret] = kustomization["secretGenerator"]
    assert secret["name"] == "organizer-secrets" and secret["envs"] == ["secrets.env"]
    assert (K8S_DIR / "secrets.env.example").exists()
    assert "deploy/k8s/secrets.env" in (ROOT / ".gitignore").read_text().split()


def test_web_app_is_ready_on_health_and_only_the_webhook_is_published():
    [deployment] = by_kind("Deployment")
    [service] = by_kind("Service")
    [ingress] = by_kind("Ingress")
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["command"][:2] == ["organizer", "web"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert "httpGet" not in container["livenessProbe"]  # a database outage must not restart the pods
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["ORGANIZER_WEB_PORT"] == str(port) and env["ORGANIZER_WEB_HOST"] == "0.0.0.0"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert "defaultBackend" not in ingress["spec"]
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhooks/hotmart", "Exact")]
    assert paths[0]["backend"]["service"] == {"name": service["metadata"]["name"], "port": {"name": "http"}}


def test_migration_job_runs_db_upgrade_with_the_app_settings():
    [job] = by_kind("Job")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["organizer", "db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert {"configMapRef": {"name": "organizer-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "organizer-secrets"}} in container["envFrom"]


def test_the_webhook_path_answers_only_post(db_url, monkeypatch):
    """The method restriction the Ingress cannot express is the app's: every other method is a 405."""
    monkeypatch.setenv("HOTMART_HOTTOK", "ingress-test-hottok")
    with serve_in_thread(create_app(urls.render(db_url))) as root:
        url = f"{root}/webhooks/hotmart"
        for method in ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"):
            assert requests.request(method, url, timeout=10).status_code == 405, method
        assert requests.post(url, json={}, timeout=10).status_code == 401  # POST reaches the receiver


# -- Helm values against the chart's documented keys and types --------------------------------------------
@cache
def chart_spec() -> dict[str, Any]:
    return json.loads(CHART_SPEC.read_text())


@cache
def k8s_validator(schema_file: str) -> jsonschema.protocols.Validator:
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSIONS[0]}.0-local-strict"
    schema = schema_contents(f"{folder}/{schema_file}.json", KUBERNETES_VERSIONS[0])
    definitions = schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSIONS[0])
    registry = Resource.from_contents(definitions) @ Registry()
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _alternatives(expression: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in expression:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def type_errors(value: Any, expression: str, path: str) -> list[str]:
    """Why `value` does not fit the spec's type `expression` ([] when one alternative fits)."""
    reasons = []
    for alternative in _alternatives(expression):
        errors = _check(value, alternative, path)
        if not errors:
            return []
        reasons += errors
    return reasons or [f"{path}: no alternative of {expression}"]


def _check(value: Any, kind: str, path: str) -> list[str]:
    shapes = chart_spec()["shapes"]
    primitives = {"string": str, "boolean": bool, "object": dict}
    if kind in primitives:
        return [] if isinstance(value, primitives[kind]) else [f"{path}: expected {kind}, got {value!r}"]
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: expected integer, got {value!r}"]
    if kind == "null":
        return [] if value is None else [f"{path}: expected null"]
    if kind.startswith("enum:"):
        allowed = kind[5:].split(",")
        return [] if value in allowed else [f"{path}: {value!r} is not one of {allowed}"]
    if kind.startswith("[") and kind.endswith("]"):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, item in enumerate(value) for e in type_errors(item, kind[1:-1], f"{path}[{i}]")]
    if kind.startswith("{") and kind.endswith("}"):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        return [e for key, item in value.items() for e in type_errors(item, kind[1:-1], f"{path}.{key}")]
    if kind.startswith("k8s:"):
        schema_file, _, extra = kind[4:].partition("+")
        if isinstance(value, dict) and extra == "enabled":
            if not isinstance(value.get("enabled", True), bool):
                return [f"{path}.enabled: expected boolean"]
            value = {key: item for key, item in value.items() if key != "enabled"}
        return [f"{path}: {error.message}" for error in k8s_validator(schema_file).iter_errors(value)]
    if kind in shapes:
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping ({kind})"]
        known = shapes[kind]
        errors = [f"{path}.{key}: not a key of the chart's {kind}" for key in value if key not in known]
        return errors + [
            e
            for key, item in value.items()
            if key in known
            for e in type_errors(item, known[key], f"{path}.{key}")
        ]
    raise AssertionError(f"the spec has no type {kind!r}")


def values_errors(values: dict[str, Any]) -> list[str]:
    top = chart_spec()["values"]
    errors = [f"{key}: not a top-level key of the chart" for key in values if key not in top]
    return errors + [
        e for key, item in values.items() if key in top for e in type_errors(item, top[key], key)
    ]


def test_helm_values_use_only_the_charts_documented_keys_and_types():
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert values_errors(values) == []
    assert values["dagster-user-deployments"]["deployments"][0]["dagsterApiGrpcArgs"] == [
        "-m",
        "organizer_pipeline.definitions",
    ]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda v: v["dagsterWebserver"].update(enabled=True), "dagsterWebserver.enabled: not a key"),
        (
            lambda v: v["postgresql"]["service"].update(port="5432"),
            "postgresql.service.port: expected integer",
        ),
        (
            lambda v: v["runLauncher"].update(type="K8sLauncher"),
            "runLauncher.type: 'K8sLauncher' is not one of",
        ),
        (
            lambda v: v["dagster-user-deployments"]["deployments"][0]["resources"].update(limit={"cpu": 1}),
            "resources: Additional properties are not allowed",
        ),
        (lambda v: v.update(dagit={}), "dagit: not a top-level key"),
    ],
)
def test_the_values_check_catches_what_helm_would_reject_or_ignore(mutate, expected):
    values = yaml.safe_load(HELM_VALUES.read_text())
    mutate(values)
    assert any(expected in error for error in values_errors(values)), values_errors(values)


def test_helm_instance_config_matches_dagster_yaml():
    """The chart writes the instance's dagster.yaml itself: retention and concurrency must say the same."""
    values = yaml.safe_load(HELM_VALUES.read_text())
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert values["additionalInstanceConfig"]["concurrency"] == local["concurrency"]

    def by_status(setting):
        days = setting["purgeAfterDays"] if "purgeAfterDays" in setting else setting["purge_after_days"]
        return (
            days
            if isinstance(days, dict)
            else dict.fromkeys(("skipped", "success", "failure", "started"), days)
        )

    assert values["retention"]["enabled"] is True
    for helm_key, local_key in (
        ("schedule", "schedule"),
        ("sensor", "sensor"),
        ("autoMaterialize", "auto_materialize"),
    ):
        assert by_status(values["retention"][helm_key]) == by_status(local["retention"][local_key]), helm_key


# -- every setting wired ---------------------------------------------------------------------------------
def wired_settings() -> dict[str, str]:
    """Setting name -> where the deploy files set it."""
    wired: dict[str, str] = {}
    [config] = by_kind("ConfigMap")
    wired |= dict.fromkeys(config["data"], "ConfigMap organizer-config")
    for line in (K8S_DIR / "secrets.env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match:
            wired[match.group(1)] = "Secret organizer-secrets"
    for workload in by_kind("Deployment") + by_kind("Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for item in container.get("env", []):
                wired[item["name"]] = f"{workload['kind']} {workload['metadata']['name']}"
    return wired


def test_every_setting_the_code_reads_is_wired_or_explained():
    wired = wired_settings()
    missing = set(settings.ENV_VARS) - set(wired) - set(NOT_APPLICABLE)
    assert not missing, f"not wired in deploy/k8s (nor in NOT_APPLICABLE): {sorted(missing)}"
    unknown = set(wired) - set(settings.ENV_VARS) - NOT_SETTINGS
    assert not unknown, f"deploy/k8s sets variables the code does not read: {sorted(unknown)}"
    assert not set(NOT_APPLICABLE) & set(wired)
    assert set(NOT_APPLICABLE) <= set(settings.ENV_VARS)


def test_the_code_server_runs_and_web_pods_all_get_the_settings():
    values = yaml.safe_load(HELM_VALUES.read_text())
    config, secret = {"name": "organizer-config"}, {"name": "organizer-secrets"}
    [code] = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    for where in (code, launcher):
        assert config in where["envConfigMaps"] and secret in where["envSecrets"]
    for workload in by_kind("Deployment") + by_kind("Job"):
        [container] = workload["spec"]["template"]["spec"]["containers"]
        assert {"configMapRef": config} in container["envFrom"] and {"secretRef": secret} in container[
            "envFrom"
        ]


def test_the_image_has_the_kubernetes_extra():
    pyproject = (ROOT / "pyproject.toml").read_text()
    dagster = re.search(r'"dagster==1\.(\d+)\.(\d+)"', pyproject)
    k8s = re.search(r'k8s = \["dagster-k8s==0\.(\d+)\.(\d+)"\]', pyproject)
    assert (
        dagster
        and k8s
        and (int(k8s.group(1)), k8s.group(2)) == (int(dagster.group(1)) + 16, dagster.group(2))
    )
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ARG EXTRAS=""' in dockerfile and '".${EXTRAS:+[$EXTRAS]}"' in dockerfile
    helm_tag = yaml.safe_load(HELM_VALUES.read_text())["dagster-user-deployments"]["deployments"][0]["image"][
        "tag"
    ]
    kustomize_tag = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())["images"][0]["newTag"]
    assert helm_tag == kustomize_tag  # the code location and the web app run the same release
