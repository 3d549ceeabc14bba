"""The database component (PostgreSQL URL from Key Vault through the Secrets Store CSI driver, a migration
Job) and the Terraform behind it: valid, wired into every app Deployment, no secret value committed."""

from __future__ import annotations

import re

import hcl2
import pytest

from helpers.deploy import DEPLOYMENT, REPO, by_kind, production_with, validate

COMPONENT = DEPLOYMENT / "components" / "database"


@pytest.fixture(scope="module")
def database_overlay(tmp_path_factory) -> list[dict]:
    return production_with("database", tmp_path_factory.mktemp("database-overlay"))


def test_every_object_validates(database_overlay):
    kinds = {d["kind"] for d in database_overlay}
    assert {"ServiceAccount", "SecretProviderClass", "Job", "Deployment"} <= kinds
    for doc in database_overlay:
        validate(doc)


def test_migration_job_upgrades_the_schema_with_the_keyvault_url(database_overlay):
    job = by_kind(database_overlay, "Job")["sids-ml-migrate"]
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["alembic", "upgrade", "head"]
    assert container["image"].split("/")[-1].startswith("sids-ml-backend:")
    config = by_kind(database_overlay, "ConfigMap")
    [config_name] = [ref["configMapRef"]["name"] for ref in container["envFrom"]]
    assert config[config_name]["data"]["DATABASE_URL_FILE"] == "/mnt/key-vault/database-url"
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/mnt/key-vault"}
    assert pod["serviceAccountName"] == "sids-ml"
    assert job["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["spec"]["ttlSecondsAfterFinished"] > 0  # gone after it ran: the next apply runs it again


def test_every_app_deployment_reads_the_database_url_from_key_vault(database_overlay):
    deployments = by_kind(database_overlay, "Deployment")
    config = by_kind(database_overlay, "ConfigMap")
    assert "sids-ml-api" in deployments
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        [config_name] = [ref["configMapRef"]["name"] for ref in container["envFrom"]]
        assert config[config_name]["data"]["DATABASE_URL_FILE"] == "/mnt/key-vault/database-url", name
        assert "/mnt/key-vault" in {m["mountPath"] for m in container["volumeMounts"]}
        assert pod["spec"]["serviceAccountName"] == "sids-ml"
        assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        csi = [v for v in pod["spec"]["volumes"] if "csi" in v]
        assert csi and csi[0]["csi"]["volumeAttributes"]["secretProviderClass"] == "sids-ml-keyvault"


def test_secret_provider_class_names_secrets_without_values(database_overlay):
    provider = by_kind(database_overlay, "SecretProviderClass")["sids-ml-keyvault"]
    assert provider["spec"]["provider"] == "azure"
    assert provider["spec"]["parameters"]["usePodIdentity"] == "false"
    assert "database-url" in provider["spec"]["parameters"]["objects"]
    text = "\n".join(p.read_text() for p in COMPONENT.glob("*.yaml"))
    assert not re.search(r"postgres(ql)?(\+\w+)?://", text) and "password" not in text.lower()


def test_terraform_database_is_private_and_its_url_lives_in_key_vault():
    parsed = {}
    for name in ("database.tf", "keyvault.tf"):
        with (DEPLOYMENT / "terraform" / name).open() as fh:
            parsed[name] = hcl2.load(fh)
    text = "\n".join((DEPLOYMENT / "terraform" / n).read_text() for n in parsed)
    resources = {
        rtype.strip('"'): body for block in parsed["database.tf"]["resource"] for rtype, body in block.items()
    }
    server = next(iter(resources["azurerm_postgresql_flexible_server"].values()))
    assert server["public_network_access_enabled"] is False
    assert "delegated_subnet_id" in server and "private_dns_zone_id" in server
    assert "azurerm_key_vault_secret" in text and "database-url" in text
    assert "Key Vault Secrets User" in text and "azurerm_federated_identity_credential" in text
    assert "system:serviceaccount:sids-ml:sids-ml" in text


def test_the_image_carries_the_migrations_and_trusts_only_configured_proxies():
    dockerignore = (REPO / ".dockerignore").read_text().split()
    assert "migrations" not in dockerignore and "pyproject.toml" not in dockerignore
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "--forwarded-allow-ips '*'" not in dockerfile and "TRUSTED_PROXIES" in dockerfile
