# Azure Cache for Redis for scale mode (JOB_BACKEND=redis): the rq job queue that
# KEDA scales the workers on, job results and the shared result cache.
# Reached only from the cluster's virtual network (private endpoint), TLS only.
resource "azurerm_redis_cache" "jobs" {
  count                         = var.redis_enabled ? 1 : 0
  name                          = "${var.prefix}-redis"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku_name                      = var.redis_sku_name
  family                        = var.redis_sku_name == "Premium" ? "P" : "C"
  capacity                      = var.redis_capacity
  minimum_tls_version           = "1.2"
  non_ssl_port_enabled          = false
  public_network_access_enabled = false
  redis_version                 = "6"
  tags                          = var.tags

  redis_configuration {
    # Queued jobs must never be evicted to make room.
    maxmemory_policy = "noeviction"
  }
}

resource "azurerm_private_dns_zone" "redis" {
  count               = var.redis_enabled ? 1 : 0
  name                = "privatelink.redis.cache.windows.net"
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
    private_connection_resource_id = azurerm_redis_cache.jobs[0].id
    subresource_names              = ["redisCache"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "redis"
    private_dns_zone_ids = [azurerm_private_dns_zone.redis[0].id]
  }
}
