terraform {
  # endswith() needs 1.3 and output preconditions 1.2; 1.5 is a conservative floor.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }

  # Keep this layer's state remote and locked, like every other layer of the account. Fill in
  # your own bucket (not the kops state bucket this layer creates) and run `terraform init`.
  #
  # backend "s3" {
  #   bucket       = "acme-terraform-state"
  #   key          = "k8s/prod.k8s.example.com/1-prerequisites.tfstate"
  #   region       = "eu-west-1"
  #   encrypt      = true
  #   use_lockfile = true # Terraform >= 1.10; older versions use dynamodb_table instead
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
