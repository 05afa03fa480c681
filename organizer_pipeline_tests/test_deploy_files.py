"""docker-compose can't run here (no Docker engine): check its structure and its promises statically."""

import re

import yaml

from organizer_pipeline import settings

ROOT = settings.PROJECT_ROOT


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example_names():
    return {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z_]+=", line)
    }


def test_services_and_database_image():
    services = compose()["services"]
    assert {"db", "code_server", "webserver", "daemon", "web"} <= set(services)
    assert services["db"]["image"] == "pgvector/pgvector:pg18"
    assert "healthcheck" in services["db"] and "pgdata" in compose()["volumes"]
    for name in ("code_server", "webserver", "daemon", "web"):
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        assert "healthcheck" in services[name], name


def test_dagster_ui_and_dashboard_are_bound_to_localhost():
    for name in ("webserver", "web"):
        for port in compose()["services"][name].get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} to every interface"


def test_every_variable_compose_uses_is_documented():
    used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert used <= env_example_names(), used - env_example_names()


def test_every_setting_is_in_env_example_and_readme():
    readme = (ROOT / "README.md").read_text()
    missing_example = set(settings.ENV_VARS) - env_example_names()
    missing_readme = {name for name in settings.ENV_VARS if name not in readme}
    assert not missing_example and not missing_readme, (missing_example, missing_readme)


def test_dagster_yaml_uses_postgres_with_psycopg2_and_cvdw_pool():
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert "run_coordinator" not in config  # the concurrency block replaces its limits
    assert "postgresql+psycopg2" in (ROOT / "dagster.yaml").read_text()


def test_dockerfile_rules():
    """hadolint-style rules that matter for this image."""
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    from_lines = [line for line in lines if line.startswith("FROM")]
    assert from_lines and all(":" in line and ":latest" not in line for line in from_lines)  # DL3006/DL3007
    text = "\n".join(lines)
    assert "apt-get install -y --no-install-recommends" in text  # DL3015
    assert "rm -rf /var/lib/apt/lists/*" in text  # DL3009
    assert re.search(r"^USER (?!root)", text, re.M)  # DL3002: not root at run time
    assert "pip install --no-cache-dir" in text  # DL3042
    assert "HEALTHCHECK" in text and "ADD " not in text  # DL3020: COPY, not ADD
    assert not re.search(r"^RUN cd ", text, re.M)  # DL3003: WORKDIR instead of cd
