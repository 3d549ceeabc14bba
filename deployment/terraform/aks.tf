resource "azurerm_kubernetes_cluster" "main" {
  #checkov:skip=CKV_AZURE_115:The API server stays public so that GitHub-hosted CD runners can deploy; access is limited by api_server_authorized_ip_ranges and Entra ID RBAC.
  #checkov:skip=CKV_AZURE_6:Authorized IP ranges are set from var.api_server_authorized_ip_ranges, a required variable validated to be non-empty, which checkov cannot resolve.
  #checkov:skip=CKV_AZURE_117:Disks use platform-managed keys; a customer-managed key (disk encryption set + Key Vault) is not required for this public dataset.
  name                = "${var.prefix}-aks"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  dns_prefix          = var.prefix
  kubernetes_version  = var.kubernetes_version
  sku_tier            = "Standard"

  automatic_upgrade_channel         = "patch"
  node_os_upgrade_channel           = "NodeImage"
  role_based_access_control_enabled = true
  local_account_disabled            = true
  azure_policy_enabled              = true
  oidc_issuer_enabled               = true
  workload_identity_enabled         = true

  default_node_pool {
    name                         = "system"
    vm_size                      = var.system_node_vm_size
    vnet_subnet_id               = azurerm_subnet.aks.id
    auto_scaling_enabled         = true
    min_count                    = var.system_node_min_count
    max_count                    = var.system_node_max_count
    max_pods                     = var.max_pods_per_node
    os_disk_type                 = "Ephemeral"
    os_disk_size_gb              = 64
    host_encryption_enabled      = true
    only_critical_addons_enabled = true
    temporary_name_for_rotation  = "systemtmp"
    zones                        = ["1", "2", "3"]
    tags                         = var.tags

    upgrade_settings {
      max_surge = "33%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  azure_active_directory_role_based_access_control {
    azure_rbac_enabled     = true
    admin_group_object_ids = var.admin_group_object_ids
  }

  api_server_access_profile {
    authorized_ip_ranges = var.api_server_authorized_ip_ranges
  }

  network_profile {
    network_plugin    = "azure"
    network_policy    = "azure"
    load_balancer_sku = "standard"
    service_cidr      = "10.21.0.0/16"
    dns_service_ip    = "10.21.0.10"
  }

  oms_agent {
    log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id
  }

  key_vault_secrets_provider {
    secret_rotation_enabled = true
  }

  storage_profile {
    file_driver_enabled = true
    blob_driver_enabled = true
    disk_driver_enabled = true
  }

  # KEDA add-on (managed by AKS): scales the queue workers on the Redis queue's length
  # (deployment/components/jobs-redis/worker-scaledobject.yaml).
  workload_autoscaler_profile {
    keda_enabled = true
  }

  auto_scaler_profile {
    balance_similar_node_groups = true
    expander                    = "least-waste"
    scale_down_unneeded         = "10m"
  }

  tags = var.tags
}

# Application pool: the main API and the model services (cluster autoscaler).
resource "azurerm_kubernetes_cluster_node_pool" "apps" {
  name                    = "apps"
  kubernetes_cluster_id   = azurerm_kubernetes_cluster.main.id
  mode                    = "User"
  vm_size                 = var.node_vm_size
  vnet_subnet_id          = azurerm_subnet.aks.id
  auto_scaling_enabled    = true
  min_count               = var.node_min_count
  max_count               = var.node_max_count
  max_pods                = var.max_pods_per_node
  os_disk_type            = "Ephemeral"
  os_disk_size_gb         = var.os_disk_size_gb
  host_encryption_enabled = true
  zones                   = ["1", "2", "3"]
  tags                    = var.tags

  upgrade_settings {
    max_surge = "33%"
  }
}

# Optional pool for a heavy model: only pods that tolerate the taint (generated
# with service_gen.py --node-pool heavy) land here; it can scale to zero.
resource "azurerm_kubernetes_cluster_node_pool" "heavy" {
  count                   = var.heavy_pool_enabled ? 1 : 0
  name                    = "heavy"
  kubernetes_cluster_id   = azurerm_kubernetes_cluster.main.id
  mode                    = "User"
  vm_size                 = var.heavy_node_vm_size
  vnet_subnet_id          = azurerm_subnet.aks.id
  auto_scaling_enabled    = true
  min_count               = var.heavy_node_min_count
  max_count               = var.heavy_node_max_count
  max_pods                = var.max_pods_per_node
  os_disk_type            = "Ephemeral"
  os_disk_size_gb         = var.os_disk_size_gb
  host_encryption_enabled = true
  node_taints             = ["workload=heavy:NoSchedule"]
  node_labels             = { workload = "heavy" }
  zones                   = ["1", "2", "3"]
  tags                    = var.tags

  upgrade_settings {
    max_surge = "33%"
  }
}

# The cluster manages load balancers and node IPs in the custom subnet.
resource "azurerm_role_assignment" "aks_network" {
  scope                = azurerm_subnet.aks.id
  role_definition_name = "Network Contributor"
  principal_id         = azurerm_kubernetes_cluster.main.identity[0].principal_id
}
