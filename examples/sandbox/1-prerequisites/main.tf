#
# Offline stand-in for ../../../1-prerequisites: same output names and types, so the same
# 2-kops/cluster-template.yml renders from it, but no provider to download and no cloud account.
# Every "AWS resource" is a built-in terraform_data resource whose id (a UUID Terraform makes up)
# is turned into a plausible AWS id (vpc-0..., subnet-0..., nat-0...). State stays in the local
# backend next to this file, and the kops state store is a directory on local disk
# (output kops_state_store), which the kops double reads and writes.
#

terraform {
  required_version = ">= 1.5.0"

  backend "local" {}
}

variable "cluster_name" {
  description = "kops cluster name. The .k8s.local suffix makes a gossip cluster, so no hosted zone is faked."
  type        = string
  default     = "sandbox.k8s.local"
}

variable "environment" {
  description = "Environment name, used in cloud labels."
  type        = string
  default     = "sandbox"
}

variable "region" {
  description = "Pretend AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "availability_zones" {
  description = "Pretend availability zones, one private and one utility subnet each."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

variable "kubernetes_version" {
  description = "Kubernetes version (kubernetesVersion)."
  type        = string
  default     = "1.33.4"
}

variable "master_count" {
  description = "Number of control-plane instance groups."
  type        = number
  default     = 1
}

variable "master_machine_type" {
  description = "Instance type of the control-plane nodes."
  type        = string
  default     = "t3.medium"
}

variable "node_machine_type" {
  description = "Instance type of the worker nodes."
  type        = string
  default     = "t3.medium"
}

variable "node_min_size" {
  description = "Minimum number of worker nodes."
  type        = number
  default     = 1
}

variable "node_max_size" {
  description = "Maximum number of worker nodes."
  type        = number
  default     = 3
}

locals {
  gossip   = endswith(var.cluster_name, ".k8s.local")
  vpc_cidr = "10.0.0.0/16"

  # Same subnet plan as the real layer.
  az_index             = { for i, az in var.availability_zones : az => i }
  private_subnet_cidrs = { for az, i in local.az_index : az => cidrsubnet(local.vpc_cidr, 3, i) }
  public_subnet_cidrs  = { for az, i in local.az_index : az => cidrsubnet(local.vpc_cidr, 6, 48 + i) }

  # kops keeps its state in this directory (--state), outside 1-prerequisites so that it survives
  # `terraform destroy` here until `kops delete cluster` has cleaned it up.
  kops_state_store = abspath("${path.module}/../.kops-state")

  # An ed25519 public key in the right format; no private key exists for it.
  ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE3fml6LkssKPdwDdtuKpUPV9cylC92i8aYzpgduUCYD sandbox@kopsform"

  tags = {
    Environment = var.environment
    ManagedBy   = "terraform"
    Project     = "kopsform-sandbox"
  }
}

resource "terraform_data" "vpc" {
  input = { name = var.cluster_name, cidr_block = local.vpc_cidr }
}

resource "terraform_data" "private_subnet" {
  for_each = local.private_subnet_cidrs

  input = { vpc = terraform_data.vpc.id, zone = each.key, cidr_block = each.value }
}

resource "terraform_data" "public_subnet" {
  for_each = local.public_subnet_cidrs

  input = { vpc = terraform_data.vpc.id, zone = each.key, cidr_block = each.value }
}

resource "terraform_data" "nat_gateway" {
  for_each = terraform_data.public_subnet

  input = { subnet = each.value.id }
}

resource "terraform_data" "hosted_zone" {
  count = local.gossip ? 0 : 1

  input = { name = var.cluster_name }
}

resource "terraform_data" "image" {
  input = { name = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250805" }
}

resource "terraform_data" "key_pair" {
  input = { key_name = "kops-${var.cluster_name}" }
}

# Stands in for the kops state bucket: makes sure the state store directory exists. The
# interpreter runs as an argument vector (mkdir -p <dir>), no shell involved.
resource "terraform_data" "kops_state_store" {
  input = local.kops_state_store

  provisioner "local-exec" {
    interpreter = ["mkdir", "-p"]
    command     = self.input
  }
}

#
# Outputs: the names and types of ../../../1-prerequisites/outputs.tf, plus kops_state_store
# pointing at the local directory instead of an s3:// URL.
#
output "region" {
  value = var.region
}

output "environment" {
  value = var.environment
}

output "cluster_name" {
  value = var.cluster_name
}

output "cluster_version" {
  value = var.kubernetes_version
}

output "cloud_labels" {
  value = tomap(local.tags)
}

output "admin_access_cidrs" {
  value = tolist(["0.0.0.0/0"])
}

output "kops_s3_bucket" {
  description = "A plain name: in the sandbox nothing is stored in S3, see kops_state_store."
  value       = "kops-state-${replace(var.cluster_name, ".", "-")}"
}

output "kops_state_store" {
  description = "Absolute path of the local directory kops uses as its state store."
  value       = terraform_data.kops_state_store.output
}

output "kops_ami_id" {
  value = "ami-0${substr(replace(terraform_data.image.id, "-", ""), 0, 16)}"
}

output "dns_zone" {
  value = local.gossip ? "" : var.cluster_name
}

output "hosted_zone_id" {
  value = local.gossip ? "" : "Z${upper(substr(replace(terraform_data.hosted_zone[0].id, "-", ""), 0, 20))}"
}

output "vpc_id" {
  value = "vpc-0${substr(replace(terraform_data.vpc.id, "-", ""), 0, 16)}"
}

output "vpc_cidr_block" {
  value = terraform_data.vpc.output.cidr_block
}

output "availability_zones" {
  value = var.availability_zones
}

output "private_subnet_ids" {
  value = tomap({ for az, subnet in terraform_data.private_subnet : az => "subnet-0${substr(replace(subnet.id, "-", ""), 0, 16)}" })
}

output "private_subnet_cidr_blocks" {
  value = tomap({ for az, subnet in terraform_data.private_subnet : az => subnet.output.cidr_block })
}

output "public_subnet_ids" {
  value = tomap({ for az, subnet in terraform_data.public_subnet : az => "subnet-0${substr(replace(subnet.id, "-", ""), 0, 16)}" })
}

output "public_subnet_cidr_blocks" {
  value = tomap({ for az, subnet in terraform_data.public_subnet : az => subnet.output.cidr_block })
}

output "nat_gateway_ids" {
  value = tomap({ for az, nat in terraform_data.nat_gateway : az => "nat-0${substr(replace(nat.id, "-", ""), 0, 16)}" })
}

output "cluster_master_azs" {
  value = slice(var.availability_zones, 0, var.master_count)

  precondition {
    condition     = var.master_count <= length(var.availability_zones)
    error_message = "master_count (${var.master_count}) is larger than the number of availability_zones (${length(var.availability_zones)})."
  }
}

output "kops_master_machine_type" {
  value = var.master_machine_type
}

output "kops_worker_machine_type" {
  value = var.node_machine_type
}

output "kops_worker_machine_min_size" {
  value = var.node_min_size
}

output "kops_worker_machine_max_size" {
  value = var.node_max_size

  precondition {
    condition     = var.node_min_size <= var.node_max_size
    error_message = "node_min_size (${var.node_min_size}) is larger than node_max_size (${var.node_max_size})."
  }
}

output "ssh_key_name" {
  value = terraform_data.key_pair.output.key_name
}

output "ssh_public_key" {
  value     = local.ssh_public_key
  sensitive = true
}
