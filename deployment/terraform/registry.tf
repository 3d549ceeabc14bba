resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_139:CD builds on GitHub-hosted runners and pushes over the public endpoint; pushes need Entra ID credentials (admin user and anonymous pull are off).
  #checkov:skip=CKV_AZURE_165:Single-region deployment; geo-replication would double the registry cost without a second cluster region to serve.
  #checkov:skip=CKV_AZURE_166:Quarantine holds pushed images until a scanner releases them, which would block the CD rollout; images are scanned by Defender for Containers instead.
  #checkov:skip=CKV_AZURE_164:Docker Content Trust is deprecated on ACR; image provenance comes from the CD workflow pushing commit-tagged images.
  name                          = "${var.prefix}acr"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  sku                           = "Premium"
  admin_enabled                 = false
  anonymous_pull_enabled        = false
  data_endpoint_enabled         = true
  zone_redundancy_enabled       = true
  public_network_access_enabled = true
  retention_policy_in_days      = var.acr_retention_days
  tags                          = var.tags
}

# The cluster's kubelet identity may pull images from the registry.
resource "azurerm_role_assignment" "aks_acr_pull" {
  scope                            = azurerm_container_registry.main.id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.main.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}
