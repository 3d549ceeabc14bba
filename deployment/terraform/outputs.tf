output "resource_group_name" {
  description = "Resource group holding every resource."
  value       = azurerm_resource_group.main.name
}

output "aks_cluster_name" {
  description = "AKS cluster name, for: az aks get-credentials -g <resource_group_name> -n <aks_cluster_name>."
  value       = azurerm_kubernetes_cluster.main.name
}

output "aks_oidc_issuer_url" {
  description = "OIDC issuer of the cluster (for workload identity federation)."
  value       = azurerm_kubernetes_cluster.main.oidc_issuer_url
}

output "acr_name" {
  description = "Container registry name, for: az acr login --name <acr_name>."
  value       = azurerm_container_registry.main.name
}

output "acr_login_server" {
  description = "Registry host to tag and push images to; set it as newName's host in the kustomize overlay."
  value       = azurerm_container_registry.main.login_server
}

output "storage_account_name" {
  description = "Storage account holding the dataset share; the Kubernetes Secret azure-dataset-storage needs it (azurestorageaccountname)."
  value       = azurerm_storage_account.dataset.name
}

output "dataset_share_name" {
  description = "Azure File share to upload the dataset folder to (DATASET_PATH in the pods)."
  value       = azurerm_storage_share.dataset.name
}

output "dataset_container_name" {
  description = "Blob container for the dataset when the dataset-blob component is used."
  value       = azurerm_storage_container.dataset.name
}

output "heavy_node_pool_name" {
  description = "Name of the heavy node pool (for service_gen.py --node-pool), or null when disabled."
  value       = var.heavy_pool_enabled ? azurerm_kubernetes_cluster_node_pool.heavy[0].name : null
}

output "redis_address" {
  description = "host:port of Azure Managed Redis (TLS); the Secret sids-ml-redis needs it as `address` (KEDA)."
  value       = var.redis_enabled ? "${azurerm_managed_redis.jobs[0].hostname}:${azurerm_managed_redis.jobs[0].default_database[0].port}" : null
}

output "redis_url" {
  description = "REDIS_URL for the API and workers (rediss://, with the access key); the Secret sids-ml-redis needs it as `url`."
  value       = var.redis_enabled ? "rediss://:${azurerm_managed_redis.jobs[0].default_database[0].primary_access_key}@${azurerm_managed_redis.jobs[0].hostname}:${azurerm_managed_redis.jobs[0].default_database[0].port}/0" : null
  sensitive   = true
}

output "redis_primary_key" {
  description = "Access key of Azure Managed Redis; the Secret sids-ml-redis needs it as `password` (KEDA)."
  value       = var.redis_enabled ? azurerm_managed_redis.jobs[0].default_database[0].primary_access_key : null
  sensitive   = true
}

output "agc_id" {
  description = "Resource id of Application Gateway for Containers: albId in the kustomize overlay (the Gateway's alb-id)."
  value       = azurerm_application_load_balancer.main.id
}

output "agc_frontend_name" {
  description = "Frontend of Application Gateway for Containers: albFrontend in the kustomize overlay."
  value       = azurerm_application_load_balancer_frontend.main.name
}

output "agc_frontend_fqdn" {
  description = "Public host name of the AGC frontend: point your DNS CNAME at it."
  value       = azurerm_application_load_balancer_frontend.main.fully_qualified_domain_name
}

output "agc_subnet_prefix" {
  description = "Subnet AGC proxies from: gatewaySubnet in the kustomize overlay (NetworkPolicy)."
  value       = var.agc_subnet_prefix
}

output "alb_controller_client_id" {
  description = "Client id of the ALB Controller's identity, for its Helm install (albController.podIdentity.clientID)."
  value       = azurerm_user_assigned_identity.alb_controller.client_id
}
