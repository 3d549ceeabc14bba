"""deployment/observability: rule files pass promtool (syntax and alert unit tests), the
PrometheusRule objects are the same rules, the component renders valid objects, the dashboard is
sound, and every `sids_*` metric the rules and the dashboard use is one the service exports."""

import json
import os
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from helpers.app import poll_job, running_app
from helpers.deploy import DEPLOYMENT, OVERLAY, SCHEMA_DIR, by_kind, kustomize, validate

OBSERVABILITY = DEPLOYMENT / "observability"
RULE_FILES = sorted((OBSERVABILITY / "rules").glob("*.rules.yml"))
RULE_TESTS = sorted((OBSERVABILITY / "tests").glob("*test*.yaml"))
DASHBOARDS = sorted((OBSERVABILITY / "dashboards").glob("*.json"))
OPERATOR_SCHEMAS = {
    "PrometheusRule": "prometheus-operator-prometheusrule.schema.json",
    "PodMonitor": "prometheus-operator-podmonitor.schema.json",
}
METRIC_NAME = re.compile(r"\bsids_[a-z0-9_]+")
BUCKET_BOUND = re.compile(r'sids_model_request_duration_seconds_bucket\{[^}]*le="([^"]+)"')


def promtool(*args: str) -> subprocess.CompletedProcess:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`; .ci/run installs it)")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=120, cwd=OBSERVABILITY)


def all_exprs() -> list[str]:
    exprs = [
        rule["expr"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    for path in DASHBOARDS:
        exprs += [t["expr"] for panel in json.loads(path.read_text())["panels"] for t in panel["targets"]]
    return exprs


def test_rule_files_pass_promtool_check():
    assert len(RULE_FILES) == 2 and RULE_TESTS, "rule files and their unit tests are in place"
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_alert_unit_tests_pass_promtool(path):
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing():
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert alerts and alerts == tested, f"alerts never shown firing in a rule test: {alerts - tested}"


def test_prometheusrule_objects_are_the_rule_files():
    check = subprocess.run(
        [sys.executable, str(OBSERVABILITY / "render.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout
    objects = list(yaml.safe_load_all((OBSERVABILITY / "prometheusrule.yaml").read_text()))
    assert [o["spec"]["groups"] for o in objects] == [
        yaml.safe_load(p.read_text())["groups"] for p in RULE_FILES
    ]


def test_component_renders_valid_objects_next_to_production(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [os.path.relpath(OVERLAY, tmp_path)],
                "components": [os.path.relpath(OBSERVABILITY, tmp_path)],
            }
        )
    )
    docs = kustomize(tmp_path)
    for doc in docs:
        if doc["kind"] in OPERATOR_SCHEMAS:
            schema = json.loads((SCHEMA_DIR / OPERATOR_SCHEMAS[doc["kind"]]).read_text())
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
            assert not errors, f"{doc['kind']}/{doc['metadata']['name']}: {errors[0].message}"
    validate(by_kind(docs, "ConfigMap")["sids-ml-grafana-dashboard"])
    assert len(by_kind(docs, "PrometheusRule")) == len(RULE_FILES)
    dashboard = by_kind(docs, "ConfigMap")["sids-ml-grafana-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["sids-ml-backend.json"]) == json.loads(DASHBOARDS[0].read_text())
    monitor = next(iter(by_kind(docs, "PodMonitor").values()))
    selector = monitor["spec"]["selector"]["matchLabels"]
    api_pods = [
        d
        for d in by_kind(docs, "Deployment").values()
        if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert {d["metadata"]["name"] for d in api_pods} >= {"sids-ml-api"}, "the PodMonitor selects the API pods"
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_plain_prometheus_config_loads_the_rules_and_scrapes_the_metrics_port():
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    assert sorted(OBSERVABILITY / f for f in config["rule_files"]) == RULE_FILES
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "sids-ml-api")
    keeps = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
    assert keeps == {
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "sids-ml-backend",
        "__meta_kubernetes_pod_container_port_name": "metrics",
    }


def test_dashboard_is_sound():
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        panels = dashboard["panels"]
        assert dashboard["uid"] and len({p["id"] for p in panels}) == len(panels)
        assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource"}
        for panel in panels:
            assert panel["title"] and panel["targets"], panel
            assert panel["datasource"]["uid"] == "${datasource}"
            for target in panel["targets"]:
                assert target["expr"].strip() and target["expr"].count("(") == target["expr"].count(")"), (
                    target
                )
        exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
        for needed in (
            "sids_http_requests_total",
            "sids_model_request_duration_seconds_bucket",
            "sids_job_queue_depth",
            "sids_jobs",
            "sids_cache_requests_total",
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
        ):
            assert needed in exprs, f"{path.name} shows no {needed}"


@pytest.fixture
def scraped(redis_url, redis_conn) -> str:
    """/metrics of an app on the Redis backend after a listing, a predict and an accepted job."""
    with running_app(
        model_service=("sampleapi", "twolvlImp"), job_backend="redis", redis_url=redis_url
    ) as client:
        assert client.get("/twolvlImp/target_years").status_code == 200
        accepted = client.post(
            "/sampleapi/predict",
            json={"indicator": "wdi-EG.ELC.ACCS.ZS", "year": "2011"},
            headers={"Prefer": "respond-async"},
        )
        assert accepted.status_code == 202
        assert poll_job(client, accepted.headers["location"], timeout=1)["status"] == "queued", (
            "no worker runs"
        )
        assert client.post("/sampleapi/predict", json={"year": "2011"}).status_code == 422
        return client.get("/metrics").text


def test_every_sids_metric_used_by_rules_and_dashboard_is_exported(scraped):
    samples = [s for family in text_string_to_metric_families(scraped) for s in family.samples]
    exported = {s.name for s in samples}
    used = {name for expr in all_exprs() for name in METRIC_NAME.findall(expr)}
    assert len(used) >= 10
    assert used <= exported, f"used but not exported: {sorted(used - exported)}"
    bounds = {s.labels["le"] for s in samples if s.name == "sids_model_request_duration_seconds_bucket"}
    assert {le for expr in all_exprs() for le in BUCKET_BOUND.findall(expr)} <= bounds
    kinds = {s.labels["kind"] for s in samples if s.name == "sids_model_request_duration_seconds_count"}
    assert kinds == {"listing", "predict", "job_accepted"}
    value = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in samples}
    assert value[("sids_redis_up", ())] == 1 and value[("sids_ready", ())] == 1
    assert (
        value[("sids_queue_workers", ())] == 0
        and value[("sids_job_queue_depth", (("backend", "redis"),))] == 1
    )
    assert value[("sids_job_queue_oldest_seconds", ())] > 0


def test_redis_down_and_not_ready_show_in_the_metrics(tmp_path):
    with running_app(
        model_service=("sampleapi",),
        job_backend="redis",
        redis_url="redis://127.0.0.1:1/0",
        dataset_path=tmp_path,
    ) as client:
        assert client.get("/health/ready").status_code == 503
        text = client.get("/metrics").text
    samples = {
        (s.name, s.labels.get("model")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("sids_redis_up", None)] == 0 and ("sids_queue_workers", None) not in samples
    assert samples[("sids_ready", None)] == 0 and samples[("sids_model_ready", "sampleapi")] == 0
