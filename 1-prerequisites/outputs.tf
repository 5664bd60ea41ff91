#
# Everything ../2-kops/cluster-template.yml reads. kopsform runs `terraform output -json` once per
# run and hands the unwrapped values to the template by these names, so renaming an output means
# changing the template too. Keep the types stable as well (maps stay maps, lists stay lists):
# tomap() and tolist() below turn for-expressions, which would otherwise be objects and tuples, into
# plain map(string) and list(string). Never let an output be null: Terraform leaves null outputs
# out of `terraform output -json`, and the template renders in strict mode.
#

#
# Cluster
#
output "region" {
  description = "AWS region of the cluster."
  value       = var.region
}

output "environment" {
  description = "Environment name."
  value       = var.environment
}

output "cluster_name" {
  description = "kops cluster name."
  value       = var.cluster_name
}

output "cluster_version" {
  description = "Kubernetes version (kubernetesVersion)."
  value       = var.kubernetes_version
}

output "cloud_labels" {
  description = "Tags kops puts on every AWS resource of the cluster (cloudLabels)."
  value       = tomap(local.tags)
}

output "admin_access_cidrs" {
  description = "CIDR blocks allowed to reach the Kubernetes API and SSH."
  value       = var.admin_access_cidrs
}

#
# kops state and images
#
output "kops_s3_bucket" {
  description = "Name of the S3 bucket holding the kops state store."
  value       = aws_s3_bucket.kops_state.bucket
}

output "kops_state_store" {
  description = "The kops state store (--state, KOPS_STATE_STORE): s3://<kops_s3_bucket>."
  value       = "s3://${aws_s3_bucket.kops_state.bucket}"
}

output "kops_ami_id" {
  description = "AMI of every instance group."
  value       = local.kops_ami_id
}

#
# DNS
#
output "dns_zone" {
  description = "Name of the cluster's Route53 hosted zone; empty for a gossip (.k8s.local) cluster."
  value       = local.dns_zone
}

output "hosted_zone_id" {
  description = "ID of the cluster's Route53 hosted zone (dnsZone); empty for a gossip (.k8s.local) cluster."
  value       = local.gossip ? "" : aws_route53_zone.cluster[0].zone_id
}

#
# Network
#
output "vpc_id" {
  description = "ID of the VPC (networkID)."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC (networkCIDR)."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "Availability zones with a private and a utility subnet."
  value       = var.availability_zones
}

output "private_subnet_ids" {
  description = "Availability zone => ID of its private subnet."
  value       = tomap({ for az, subnet in aws_subnet.private : az => subnet.id })
}

output "private_subnet_cidr_blocks" {
  description = "Availability zone => CIDR block of its private subnet."
  value       = tomap({ for az, subnet in aws_subnet.private : az => subnet.cidr_block })
}

output "public_subnet_ids" {
  description = "Availability zone => ID of its public (utility) subnet."
  value       = tomap({ for az, subnet in aws_subnet.public : az => subnet.id })
}

output "public_subnet_cidr_blocks" {
  description = "Availability zone => CIDR block of its public (utility) subnet."
  value       = tomap({ for az, subnet in aws_subnet.public : az => subnet.cidr_block })
}

output "nat_gateway_ids" {
  description = "Availability zone => ID of the NAT gateway its private subnet routes through (egress)."
  value       = tomap(local.nat_gateway_ids)
}

#
# Instance groups
#
output "cluster_master_azs" {
  description = "Availability zones of the control-plane instance groups, one instance group (and etcd member) each."
  value       = slice(var.availability_zones, 0, var.master_count)

  precondition {
    condition     = var.master_count <= length(var.availability_zones)
    error_message = "master_count (${var.master_count}) is larger than the number of availability_zones (${length(var.availability_zones)})."
  }
}

output "kops_master_machine_type" {
  description = "EC2 instance type of the control-plane nodes."
  value       = var.master_machine_type
}

output "kops_worker_machine_type" {
  description = "EC2 instance type of the worker nodes."
  value       = var.node_machine_type
}

output "kops_worker_machine_min_size" {
  description = "Minimum number of worker nodes."
  value       = var.node_min_size
}

output "kops_worker_machine_max_size" {
  description = "Maximum number of worker nodes."
  value       = var.node_max_size

  precondition {
    condition     = var.node_min_size <= var.node_max_size
    error_message = "node_min_size (${var.node_min_size}) is larger than node_max_size (${var.node_max_size})."
  }
}

#
# SSH
#
output "ssh_key_name" {
  description = "Name of the EC2 key pair on every instance (sshKeyName)."
  value       = aws_key_pair.kops.key_name
}

output "ssh_public_key" {
  description = "The public key of that key pair, for `kops create secret sshpublickey`. Sensitive only because the variable it comes from is; kopsform keeps it out of the template context and the logs unless a cluster allows it."
  value       = var.ssh_public_key
  sensitive   = true
}
