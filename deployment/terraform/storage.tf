resource "azurerm_storage_account" "dataset" {
  #checkov:skip=CKV2_AZURE_40:The Azure Files/Blob CSI drivers mount with the account key held in the operator-created Kubernetes Secret, so shared-key access must stay on.
  #checkov:skip=CKV2_AZURE_1:The account holds a public dataset; Microsoft-managed encryption keys are sufficient.
  #checkov:skip=CKV2_AZURE_33:Nodes reach the account through the subnet service endpoint and the firewall denies everything else; a private endpoint adds cost without changing who can reach it.
  #checkov:skip=CKV_AZURE_33:Queue service is unused by this account (only the file share and blob container).
  #checkov:skip=CKV_AZURE_59:Public network access means "selected networks" here: the firewall default is Deny and only the AKS subnet (service endpoint) and storage_allowed_ip_ranges get in.
  name                             = "${var.prefix}dataset"
  location                         = azurerm_resource_group.main.location
  resource_group_name              = azurerm_resource_group.main.name
  account_kind                     = "StorageV2"
  account_tier                     = "Standard"
  account_replication_type         = var.storage_replication_type
  min_tls_version                  = "TLS1_2"
  https_traffic_only_enabled       = true
  allow_nested_items_to_be_public  = false
  public_network_access_enabled    = true
  cross_tenant_replication_enabled = false
  shared_access_key_enabled        = true
  tags                             = var.tags

  network_rules {
    default_action             = "Deny"
    bypass                     = ["AzureServices", "Logging", "Metrics"]
    virtual_network_subnet_ids = [azurerm_subnet.aks.id]
    ip_rules                   = var.storage_allowed_ip_ranges
  }

  sas_policy {
    expiration_period = "01.00:00:00"
    expiration_action = "Log"
  }

  blob_properties {
    delete_retention_policy {
      days = 7
    }
    container_delete_retention_policy {
      days = 7
    }
  }

  share_properties {
    retention_policy {
      days = 7
    }
  }
}

resource "azurerm_storage_share" "dataset" {
  name               = var.dataset_share_name
  storage_account_id = azurerm_storage_account.dataset.id
  quota              = var.dataset_share_quota_gb
}

resource "azurerm_storage_container" "dataset" {
  #checkov:skip=CKV2_AZURE_21:Read requests are logged by the diagnostic setting on blobServices below (StorageRead to Log Analytics), not by the legacy storage insights resource this check looks for.
  name                  = var.dataset_container_name
  storage_account_id    = azurerm_storage_account.dataset.id
  container_access_type = "private"
}

# Storage access logs (reads, writes, deletes) of the dataset go to Log Analytics.
resource "azurerm_monitor_diagnostic_setting" "dataset_blob" {
  name                       = "dataset-blob-logs"
  target_resource_id         = "${azurerm_storage_account.dataset.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id

  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}

resource "azurerm_monitor_diagnostic_setting" "dataset_file" {
  name                       = "dataset-file-logs"
  target_resource_id         = "${azurerm_storage_account.dataset.id}/fileServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id

  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}
