variable "subscription_id" {
  description = "Azure subscription ID to deploy into (az account show --query id -o tsv)."
  type        = string
}

variable "prefix" {
  description = "Short lowercase prefix for every resource name (3-10 letters/digits); the registry and storage account names derive from it and must be globally unique."
  type        = string
  default     = "sidsml"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,9}$", var.prefix))
    error_message = "prefix must be 3-10 lowercase letters or digits, starting with a letter."
  }
}

variable "location" {
  description = "Azure region for all resources, e.g. westeurope."
  type        = string
  default     = "westeurope"
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default = {
    project = "sids-ml-backend"
  }
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version (e.g. 1.31); null lets AKS pick its default version. Patch upgrades are automatic."
  type        = string
  default     = null
}

variable "vnet_address_space" {
  description = "Address space of the virtual network the cluster nodes live in."
  type        = string
  default     = "10.20.0.0/16"
}

variable "aks_subnet_prefix" {
  description = "Subnet (inside vnet_address_space) for AKS nodes and pods (Azure CNI)."
  type        = string
  default     = "10.20.0.0/18"
}

variable "api_server_authorized_ip_ranges" {
  description = "CIDR ranges allowed to reach the Kubernetes API server (operators, CI runners). Required: the API server is never open to the whole internet."
  type        = list(string)

  validation {
    condition     = length(var.api_server_authorized_ip_ranges) > 0
    error_message = "Give at least one CIDR range, e.g. your office or runner egress IP as x.x.x.x/32."
  }
}

variable "admin_group_object_ids" {
  description = "Microsoft Entra ID group object IDs whose members are cluster admins (local Kubernetes accounts are disabled)."
  type        = list(string)
}

variable "system_node_vm_size" {
  description = "VM size of the system node pool (runs only critical add-ons). Needs a local disk for ephemeral OS disks (a 'd' size)."
  type        = string
  default     = "Standard_D2ds_v5"
}

variable "system_node_min_count" {
  description = "Cluster autoscaler: minimum nodes in the system pool."
  type        = number
  default     = 1
}

variable "system_node_max_count" {
  description = "Cluster autoscaler: maximum nodes in the system pool."
  type        = number
  default     = 3
}

variable "node_vm_size" {
  description = "VM size of the application node pool that runs the API and model services."
  type        = string
  default     = "Standard_D4ds_v5"
}

variable "node_min_count" {
  description = "Cluster autoscaler: minimum nodes in the application pool."
  type        = number
  default     = 1
}

variable "node_max_count" {
  description = "Cluster autoscaler: maximum nodes in the application pool."
  type        = number
  default     = 5

  validation {
    condition     = var.node_max_count >= var.node_min_count
    error_message = "node_max_count must be at least node_min_count."
  }
}

variable "heavy_pool_enabled" {
  description = "Create the extra 'heavy' node pool (tainted workload=heavy:NoSchedule) for a split-out heavy model such as twolvlImp (service_gen.py --node-pool heavy)."
  type        = bool
  default     = true
}

variable "heavy_node_vm_size" {
  description = "VM size of the heavy node pool (memory-optimised by default)."
  type        = string
  default     = "Standard_E4ds_v5"
}

variable "heavy_node_min_count" {
  description = "Cluster autoscaler: minimum nodes in the heavy pool (0 = scale to zero when idle)."
  type        = number
  default     = 0
}

variable "heavy_node_max_count" {
  description = "Cluster autoscaler: maximum nodes in the heavy pool."
  type        = number
  default     = 3
}

variable "os_disk_size_gb" {
  description = "Ephemeral OS disk size of application and heavy nodes; must fit the VM's local disk."
  type        = number
  default     = 128
}

variable "max_pods_per_node" {
  description = "Maximum pods per node (Azure CNI reserves one IP per pod)."
  type        = number
  default     = 50
}

variable "acr_retention_days" {
  description = "Days an untagged image manifest is kept in the container registry."
  type        = number
  default     = 30
}

variable "dataset_share_name" {
  description = "Name of the Azure File share holding the dataset folder (DATASET_PATH); must match datasetShare in the kustomize overlay."
  type        = string
  default     = "dataset"
}

variable "dataset_share_quota_gb" {
  description = "Size quota of the dataset file share in GiB."
  type        = number
  default     = 10
}

variable "dataset_container_name" {
  description = "Name of the Blob container for the dataset when the dataset-blob kustomize component is used."
  type        = string
  default     = "dataset"
}

variable "storage_replication_type" {
  description = "Replication of the dataset storage account (GZRS keeps zone and region copies)."
  type        = string
  default     = "GZRS"
}

variable "storage_allowed_ip_ranges" {
  description = "Public IPv4 addresses (single IPs without /32, or CIDR ranges up to /30) allowed through the dataset storage firewall, e.g. the operator machine that uploads the dataset. The AKS subnet is always allowed."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the Log Analytics workspace that receives cluster logs and metrics."
  type        = number
  default     = 30
}

variable "redis_enabled" {
  description = "Create Azure Managed Redis (private endpoint in the cluster network) for scale mode: JOB_BACKEND=redis, queue workers scaled by KEDA (deployment/components/jobs-redis). false: run Redis in the cluster (deployment/README.md)."
  type        = bool
  default     = true
}

variable "redis_sku_name" {
  description = "Azure Managed Redis SKU, e.g. Balanced_B0 (0.5 GB) or Balanced_B1 (1 GB); job bodies and results are small, so Balanced_B1 is plenty."
  type        = string
  default     = "Balanced_B1"

  validation {
    condition     = can(regex("^(Balanced|MemoryOptimized|ComputeOptimized|FlashOptimized)_[A-Z][0-9]+$", var.redis_sku_name))
    error_message = "redis_sku_name must be an Azure Managed Redis SKU such as Balanced_B1."
  }
}

variable "agc_subnet_prefix" {
  description = "Subnet (inside vnet_address_space, at least /24) delegated to Application Gateway for Containers; must match gatewaySubnet in the kustomize overlay (the NetworkPolicy admits it)."
  type        = string
  default     = "10.20.64.0/24"
}
