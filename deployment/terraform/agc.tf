# Application Gateway for Containers (AGC): the maintained, Azure-managed Gateway API data plane
# (deployment/README.md says why). "Bring your own" deployment: Terraform owns the AGC resource,
# its frontend and its delegated subnet; the ALB Controller in the cluster (Helm, README step 4)
# programs it from the Gateway and HTTPRoutes, authenticating with the workload identity below.
resource "azurerm_subnet" "agc" {
  #checkov:skip=CKV2_AZURE_31:The subnet is delegated to Application Gateway for Containers, which runs its own managed proxies there; what reaches the pods from it is limited by the Kubernetes NetworkPolicy (gatewaySubnet).
  name                 = "agc"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = [var.agc_subnet_prefix]

  delegation {
    name = "agc"
    service_delegation {
      name    = "Microsoft.ServiceNetworking/trafficControllers"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_application_load_balancer" "main" {
  name                = "${var.prefix}-agc"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_application_load_balancer_subnet_association" "main" {
  name                         = "${var.prefix}-agc-subnet"
  application_load_balancer_id = azurerm_application_load_balancer.main.id
  subnet_id                    = azurerm_subnet.agc.id
  tags                         = var.tags
}

resource "azurerm_application_load_balancer_frontend" "main" {
  name                         = "${var.prefix}-frontend"
  application_load_balancer_id = azurerm_application_load_balancer.main.id
  tags                         = var.tags
}

# The ALB Controller's identity (workload identity federation with its service account).
resource "azurerm_user_assigned_identity" "alb_controller" {
  name                = "${var.prefix}-alb-controller"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "alb_controller" {
  name                = "alb-controller"
  resource_group_name = azurerm_resource_group.main.name
  parent_id           = azurerm_user_assigned_identity.alb_controller.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject             = "system:serviceaccount:azure-alb-system:alb-controller-sa"
}

resource "azurerm_role_assignment" "alb_controller_agc" {
  scope                = azurerm_application_load_balancer.main.id
  role_definition_name = "AppGw for Containers Configuration Manager"
  principal_id         = azurerm_user_assigned_identity.alb_controller.principal_id
}

resource "azurerm_role_assignment" "alb_controller_subnet" {
  scope                = azurerm_subnet.agc.id
  role_definition_name = "Network Contributor"
  principal_id         = azurerm_user_assigned_identity.alb_controller.principal_id
}
