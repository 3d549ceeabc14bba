# Azure Key Vault for the service's secrets (DATABASE_URL today), read by pods through the Secrets Store
# CSI driver (AKS add-on, key_vault_secrets_provider) with workload identity: a user-assigned identity
# federated with the `sids-ml` service account may read secrets, nothing else. No secret value ever
# appears in a manifest.

data "azurerm_client_config" "current" {}

resource "azurerm_key_vault" "main" {
  #checkov:skip=CKV_AZURE_109:the vault must be reachable by the deploying pipeline; data access needs Entra RBAC, and the network rule denies everything but Azure services
  #checkov:skip=CKV_AZURE_189:same reason as CKV_AZURE_109; pods reach it through the CSI driver with workload identity
  #checkov:skip=CKV2_AZURE_32:a private endpoint for the vault is left to the operator's network design (key_vault_allowed_ips)
  count                         = var.database_enabled ? 1 : 0
  name                          = "${var.prefix}-kv"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  rbac_authorization_enabled    = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 30
  public_network_access_enabled = true
  tags                          = var.tags

  network_acls {
    bypass         = "AzureServices"
    default_action = "Deny"
    ip_rules       = var.key_vault_allowed_ips
  }
}

# Whoever runs Terraform writes the secrets; the workload identity only reads them.
resource "azurerm_role_assignment" "key_vault_deployer" {
  count                = var.database_enabled ? 1 : 0
  scope                = azurerm_key_vault.main[0].id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

resource "azurerm_key_vault_secret" "database_url" {
  count           = var.database_enabled ? 1 : 0
  name            = "database-url"
  key_vault_id    = azurerm_key_vault.main[0].id
  content_type    = "SQLAlchemy URL"
  expiration_date = var.database_secret_expiration
  value = format("%s://%s@%s:5432/%s?sslmode=require", "postgresql+psycopg",
    join(":", [azurerm_postgresql_flexible_server.main[0].administrator_login, random_password.postgres_admin[0].result]),
    azurerm_postgresql_flexible_server.main[0].fqdn,
  azurerm_postgresql_flexible_server_database.sids[0].name)

  depends_on = [azurerm_role_assignment.key_vault_deployer]
}

resource "azurerm_user_assigned_identity" "workload" {
  count               = var.database_enabled ? 1 : 0
  name                = "${var.prefix}-workload"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "workload" {
  count               = var.database_enabled ? 1 : 0
  name                = "${var.prefix}-sids-ml-sa"
  resource_group_name = azurerm_resource_group.main.name
  parent_id           = azurerm_user_assigned_identity.workload[0].id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject             = "system:serviceaccount:sids-ml:sids-ml" # namespace and ServiceAccount of deployment/components/database
}

resource "azurerm_role_assignment" "workload_secrets" {
  count                = var.database_enabled ? 1 : 0
  scope                = azurerm_key_vault.main[0].id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.workload[0].principal_id
}
