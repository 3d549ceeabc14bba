terraform {
  required_version = ">= 1.6.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.50"
    }
  }

  # State stays out of git. For a team, keep it in a storage account:
  #   terraform init -backend-config=backend.hcl   (see deployment/README.md)
  # and uncomment:
  # backend "azurerm" {}
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}
