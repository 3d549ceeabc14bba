# Azure Managed Redis for scale mode (JOB_BACKEND=redis): the rq job queue that KEDA scales the
# workers on, job results and the shared result cache. (Azure Cache for Redis is being retired.)
# Reached only from the cluster's virtual network (private endpoint), TLS only (port 10000).
# Without it (redis_enabled = false), run Redis in the cluster instead: deployment/README.md.
resource "azurerm_managed_redis" "jobs" {
  count                     = var.redis_enabled ? 1 : 0
  name                      = "${var.prefix}-redis"
  location                  = azurerm_resource_group.main.location
  resource_group_name       = azurerm_resource_group.main.name
  sku_name                  = var.redis_sku_name
  high_availability_enabled = true
  public_network_access     = "Disabled"
  tags                      = var.tags

  default_database {
    access_keys_authentication_enabled = true
    client_protocol                    = "Encrypted"
    # rq uses multi-key commands and Lua scripts: one shard endpoint, not the OSS cluster protocol.
    clustering_policy = "EnterpriseCluster"
    # Queued jobs must never be evicted to make room.
    eviction_policy = "NoEviction"
  }
}

resource "azurerm_private_dns_zone" "redis" {
  count               = var.redis_enabled ? 1 : 0
  name                = "privatelink.redis.azure.net"
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "redis" {
  count                 = var.redis_enabled ? 1 : 0
  name                  = "${var.prefix}-redis-dns"
  resource_group_name   = azurerm_resource_group.main.name
  private_dns_zone_name = azurerm_private_dns_zone.redis[0].name
  virtual_network_id    = azurerm_virtual_network.main.id
  tags                  = var.tags
}

resource "azurerm_private_endpoint" "redis" {
  count               = var.redis_enabled ? 1 : 0
  name                = "${var.prefix}-redis-pe"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  subnet_id           = azurerm_subnet.aks.id
  tags                = var.tags

  private_service_connection {
    name                           = "${var.prefix}-redis"
    private_connection_resource_id = azurerm_managed_redis.jobs[0].id
    subresource_names              = ["redisEnterprise"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "redis"
    private_dns_zone_ids = [azurerm_private_dns_zone.redis[0].id]
  }
}
