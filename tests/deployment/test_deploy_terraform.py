"""deployment/terraform: parses (python-hcl2), declares what SPEC §7 asks, documented, fmt-clean."""

from __future__ import annotations

import re
import shutil
import subprocess

import hcl2
import pytest

from helpers.deploy import DEPLOYMENT, REPO

TF_DIR = DEPLOYMENT / "terraform"


def unquote(value):
    """python-hcl2 keeps HCL quoting and block markers; strip both for assertions."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@pytest.fixture(scope="module")
def tf():
    merged: dict[str, dict] = {"resource": {}, "variable": {}, "output": {}, "provider": {}, "terraform": {}}
    files = sorted(TF_DIR.glob("*.tf"))
    assert files
    for path in files:
        with path.open() as fh:
            parsed = unquote(hcl2.load(fh))
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    merged["resource"].setdefault(rtype, {})[name] = body
        for kind in ("variable", "output", "provider"):
            for block in parsed.get(kind, []):
                merged[kind].update(block)
        for block in parsed.get("terraform", []):
            merged["terraform"].update(block)
    merged["text"] = "\n".join(p.read_text() for p in files)
    return merged


def res(tf, rtype, name=None):
    assert rtype in tf["resource"], f"no {rtype} declared"
    found = tf["resource"][rtype]
    return found[name] if name else next(iter(found.values()))


def test_core_resources_are_declared(tf):
    for rtype in [
        "azurerm_resource_group",
        "azurerm_kubernetes_cluster",
        "azurerm_kubernetes_cluster_node_pool",
        "azurerm_container_registry",
        "azurerm_role_assignment",
        "azurerm_storage_account",
        "azurerm_storage_share",
        "azurerm_log_analytics_workspace",
    ]:
        assert rtype in tf["resource"], rtype
    assert tf["terraform"]["required_providers"][0]["azurerm"]["source"] == "hashicorp/azurerm"


def test_aks_has_cluster_autoscaler_with_variable_bounds(tf):
    aks = res(tf, "azurerm_kubernetes_cluster")
    pool = aks["default_node_pool"][0]
    assert pool["auto_scaling_enabled"] is True
    assert (
        pool["min_count"] == "${var.system_node_min_count}"
        and pool["max_count"] == "${var.system_node_max_count}"
    )
    apps = res(tf, "azurerm_kubernetes_cluster_node_pool", "apps")
    assert apps["auto_scaling_enabled"] is True
    assert apps["min_count"] == "${var.node_min_count}" and apps["max_count"] == "${var.node_max_count}"
    assert aks["role_based_access_control_enabled"] is True
    assert aks["identity"][0]["type"] == "SystemAssigned"
    assert aks["storage_profile"][0]["file_driver_enabled"] is True
    assert aks["storage_profile"][0]["blob_driver_enabled"] is True


def test_optional_heavy_node_pool(tf):
    heavy = res(tf, "azurerm_kubernetes_cluster_node_pool", "heavy")
    assert heavy["count"] == "${var.heavy_pool_enabled ? 1 : 0}"
    assert heavy["auto_scaling_enabled"] is True
    assert heavy["min_count"] == "${var.heavy_node_min_count}"
    assert heavy["node_taints"] == ["workload=heavy:NoSchedule"]
    assert tf["variable"]["heavy_pool_enabled"]["type"] == "bool"
    # the committed twolvlimp service is scheduled there (service_gen.py --node-pool heavy)
    deployment = (DEPLOYMENT / "overlays/production/services/twolvlimp/deployment.yaml").read_text()
    assert "kubernetes.azure.com/agentpool: heavy" in deployment


def test_cluster_can_pull_from_the_registry(tf):
    acr = res(tf, "azurerm_container_registry")
    assert acr["admin_enabled"] is False
    pulls = [
        r
        for r in tf["resource"]["azurerm_role_assignment"].values()
        if r["role_definition_name"] == "AcrPull"
    ]
    assert len(pulls) == 1
    assert pulls[0]["scope"] == "${azurerm_container_registry.main.id}"
    assert "kubelet_identity" in pulls[0]["principal_id"]


def test_storage_account_has_the_dataset_share(tf):
    account = res(tf, "azurerm_storage_account")
    assert account["min_tls_version"] == "TLS1_2"
    assert account["https_traffic_only_enabled"] is True
    assert account["allow_nested_items_to_be_public"] is False
    share = res(tf, "azurerm_storage_share")
    assert share["name"] == "${var.dataset_share_name}"
    assert share["storage_account_id"] == "${azurerm_storage_account.dataset.id}"
    assert tf["variable"]["dataset_share_name"]["default"] == "dataset"
    # the share name matches the kustomize overlay's datasetShare setting
    overlay = (DEPLOYMENT / "overlays/production/kustomization.yaml").read_text()
    assert "datasetShare=dataset" in overlay


def test_every_variable_and_output_is_documented(tf):
    assert len(tf["variable"]) >= 10
    for name, body in tf["variable"].items():
        assert len(body.get("description", "")) > 15, f"variable {name} lacks a description"
        assert "type" in body, f"variable {name} lacks a type"
    for name, body in tf["output"].items():
        assert len(body.get("description", "")) > 15, f"output {name} lacks a description"
    for expected in [
        "resource_group_name",
        "aks_cluster_name",
        "acr_login_server",
        "acr_name",
        "storage_account_name",
        "dataset_share_name",
    ]:
        assert expected in tf["output"]


def test_every_referenced_variable_is_declared(tf):
    referenced = set(re.findall(r"\bvar\.([a-z_][a-z0-9_]*)", tf["text"]))
    assert referenced <= set(tf["variable"]), referenced - set(tf["variable"])
    unused = set(tf["variable"]) - referenced
    assert not unused, f"declared but unused variables: {unused}"


def test_example_tfvars_sets_only_declared_variables(tf):
    example = (TF_DIR / "terraform.tfvars.example").read_text()
    names = re.findall(r"^([a-z_]+)\s*=", example, re.M)
    assert names and set(names) <= set(tf["variable"])
    required = {n for n, body in tf["variable"].items() if "default" not in body}
    assert required <= set(names), f"example misses required variables {required - set(names)}"


def test_no_state_or_real_tfvars_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "deployment/terraform"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    for name in tracked:
        assert not re.search(r"(\.tfstate(\..*)?|\.tfvars|\.terraform(\.lock\.hcl)?/.*)$", name), name
    assert not (TF_DIR / "terraform.tfstate").exists()


def test_terraform_fmt_is_clean():
    terraform = shutil.which("terraform")
    if not terraform:
        pytest.skip("terraform is not installed")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-diff", "-recursive", str(TF_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def test_aks_runs_the_keda_add_on_for_the_queue_workers(tf):
    aks = res(tf, "azurerm_kubernetes_cluster")
    assert aks["workload_autoscaler_profile"][0]["keda_enabled"] is True
    scaled = (DEPLOYMENT / "components/jobs-redis/worker-scaledobject.yaml").read_text()
    assert "kind: ScaledObject" in scaled, "KEDA objects are what the add-on serves"


def test_scale_mode_redis_is_azure_managed_redis_reached_privately(tf):
    assert "azurerm_redis_cache" not in tf["resource"], "Azure Cache for Redis is being retired"
    redis = res(tf, "azurerm_managed_redis", "jobs")
    assert redis["count"] == "${var.redis_enabled ? 1 : 0}"
    assert redis["public_network_access"] == "Disabled"
    database = redis["default_database"][0]
    assert database["client_protocol"] == "Encrypted" and database["eviction_policy"] == "NoEviction"
    assert database["clustering_policy"] == "EnterpriseCluster", (
        "rq needs one endpoint for multi-key commands"
    )
    endpoint = res(tf, "azurerm_private_endpoint", "redis")
    connection = endpoint["private_service_connection"][0]
    assert connection["subresource_names"] == ["redisEnterprise"]
    assert res(tf, "azurerm_private_dns_zone", "redis")["name"] == "privatelink.redis.azure.net"
    # the outputs give exactly what the Secret sids-ml-redis needs (url for the pods, address/password for KEDA)
    assert {"redis_url", "redis_address", "redis_primary_key"} <= set(tf["output"])
    assert (
        tf["output"]["redis_url"]["sensitive"] is True
        and tf["output"]["redis_primary_key"]["sensitive"] is True
    )
    assert "rediss://" in tf["output"]["redis_url"]["value"]


def test_the_gateway_runs_on_application_gateway_for_containers(tf):
    subnet = res(tf, "azurerm_subnet", "agc")
    delegation = subnet["delegation"][0]["service_delegation"][0]
    assert delegation["name"] == "Microsoft.ServiceNetworking/trafficControllers"
    assert subnet["address_prefixes"] == ["${var.agc_subnet_prefix}"]
    association = res(tf, "azurerm_application_load_balancer_subnet_association", "main")
    assert association["subnet_id"] == "${azurerm_subnet.agc.id}"
    assert res(tf, "azurerm_application_load_balancer_frontend", "main")
    credential = res(tf, "azurerm_federated_identity_credential", "alb_controller")
    assert credential["subject"] == "system:serviceaccount:azure-alb-system:alb-controller-sa"
    roles = {
        r["role_definition_name"]
        for r in tf["resource"]["azurerm_role_assignment"].values()
        if "alb_controller" in r["principal_id"]
    }
    assert roles == {"AppGw for Containers Configuration Manager", "Network Contributor"}
    # the overlay's defaults match Terraform's (the NetworkPolicy admits the AGC subnet)
    overlay = (DEPLOYMENT / "overlays/production/kustomization.yaml").read_text()
    assert f"gatewaySubnet={tf['variable']['agc_subnet_prefix']['default']}" in overlay
    assert {"agc_id", "agc_frontend_name", "agc_subnet_prefix", "alb_controller_client_id"} <= set(
        tf["output"]
    )
