# Azure Database for PostgreSQL flexible server: API keys and the audit trail (the app's DATABASE_URL).
# Private access only: the server sits in a subnet of the cluster's virtual network delegated to it and is
# resolved through a private DNS zone; no public endpoint. Its administrator password is generated here
# and kept in Key Vault (keyvault.tf), from where pods read DATABASE_URL through the Secrets Store CSI driver.

terraform {
  required_providers {
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

resource "azurerm_subnet" "postgres" {
  count                = var.database_enabled ? 1 : 0
  name                 = "postgres"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.postgres_subnet_prefix]

  delegation {
    name = "postgres-flexible-server"
    service_delegation {
      name    = "Microsoft.DBforPostgreSQL/flexibleServers"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

# The subnet's own NSG (Azure's default rules: traffic from the virtual network only).
resource "azurerm_network_security_group" "postgres" {
  count               = var.database_enabled ? 1 : 0
  name                = "${var.prefix}-postgres-nsg"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_subnet_network_security_group_association" "postgres" {
  count                     = var.database_enabled ? 1 : 0
  subnet_id                 = azurerm_subnet.postgres[0].id
  network_security_group_id = azurerm_network_security_group.postgres[0].id
}

resource "azurerm_private_dns_zone" "postgres" {
  count               = var.database_enabled ? 1 : 0
  name                = "${var.prefix}.private.postgres.database.azure.com"
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "postgres" {
  count                 = var.database_enabled ? 1 : 0
  name                  = "${var.prefix}-postgres-dns"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.postgres[0].name
  virtual_network_id    = azurerm_virtual_network.main.id
  tags                  = var.tags
}

resource "random_password" "postgres_admin" {
  count   = var.database_enabled ? 1 : 0
  length  = 40
  special = false
}

resource "azurerm_postgresql_flexible_server" "main" {
  #checkov:skip=CKV2_AZURE_57:private access is VNet integration (a delegated subnet, public access disabled); a private endpoint does not apply to such a server
  #checkov:skip=CKV_AZURE_136:geo-redundant backups are a variable (postgres_geo_redundant_backup); the audit trail is replaceable, zone-redundant storage is the default
  count                         = var.database_enabled ? 1 : 0
  name                          = "${var.prefix}-postgres"
  resource_group_name           = azurerm_resource_group.main.name
  location                      = azurerm_resource_group.main.location
  version                       = "16"
  sku_name                      = var.postgres_sku_name
  storage_mb                    = var.postgres_storage_mb
  backup_retention_days         = 14
  geo_redundant_backup_enabled  = var.postgres_geo_redundant_backup
  delegated_subnet_id           = azurerm_subnet.postgres[0].id
  private_dns_zone_id           = azurerm_private_dns_zone.postgres[0].id
  public_network_access_enabled = false
  administrator_login           = "sidsadmin"
  administrator_password        = random_password.postgres_admin[0].result
  tags                          = var.tags

  authentication {
    password_auth_enabled = true
  }

  lifecycle {
    # Azure picks the zone when none is given; later plans must not try to move the server.
    ignore_changes = [zone]
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgres]
}

resource "azurerm_postgresql_flexible_server_database" "sids" {
  count     = var.database_enabled ? 1 : 0
  name      = "sids"
  server_id = azurerm_postgresql_flexible_server.main[0].id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

# TLS only, and connection events in the server logs for the audit of the audit store.
resource "azurerm_postgresql_flexible_server_configuration" "require_tls" {
  count     = var.database_enabled ? 1 : 0
  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.main[0].id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_configuration" "log_connections" {
  count     = var.database_enabled ? 1 : 0
  name      = "log_connections"
  server_id = azurerm_postgresql_flexible_server.main[0].id
  value     = "on"
}
