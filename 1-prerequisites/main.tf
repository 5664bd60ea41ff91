#
# What kops needs to exist before `kops update cluster --target terraform` runs: a VPC with a
# private and a public (kops calls it "utility") subnet per zone, internet and NAT egress, a DNS
# zone, the kops state bucket and an EC2 key pair. kops is told about all of it through the
# outputs of this layer (see outputs.tf and ../2-kops/cluster-template.yml) and treats the network
# as shared: it never changes these subnets or route tables.
#

data "aws_caller_identity" "current" {}

data "aws_ami" "kops" {
  count = var.kops_ami_id == null ? 1 : 0

  most_recent = true
  owners      = [var.ami_owner]

  filter {
    name   = "name"
    values = [var.ami_name_filter]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

locals {
  # kops runs clusters whose name ends in .k8s.local on gossip, without any DNS zone.
  gossip = endswith(var.cluster_name, ".k8s.local")

  dns_zone     = local.gossip ? "" : coalesce(var.dns_zone, var.cluster_name)
  state_bucket = coalesce(var.kops_state_bucket, "kops-state-${data.aws_caller_identity.current.account_id}-${replace(var.cluster_name, ".", "-")}")
  kops_ami_id  = coalesce(var.kops_ami_id, one(data.aws_ami.kops[*].id))

  # Zone => CIDR. In a /16: private /19s from the bottom (10.0.0.0/19, 10.0.32.0/19, ...), utility
  # /22s from 10.0.192.0 up; six zones fit without overlap.
  az_index             = { for i, az in var.availability_zones : az => i }
  private_subnet_cidrs = { for az, i in local.az_index : az => cidrsubnet(var.vpc_cidr, 3, i) }
  public_subnet_cidrs  = { for az, i in local.az_index : az => cidrsubnet(var.vpc_cidr, 6, 48 + i) }

  nat_azs = var.single_nat_gateway ? slice(var.availability_zones, 0, 1) : var.availability_zones
  # Zone => the NAT gateway its private subnet routes through.
  nat_gateway_ids = { for az in var.availability_zones : az => aws_nat_gateway.this[var.single_nat_gateway ? local.nat_azs[0] : az].id }

  # Subnets shared with kops carry the cluster tag with the value "shared", so that kops and the
  # AWS load balancer controllers find them but never delete them.
  cluster_tag = { "kubernetes.io/cluster/${var.cluster_name}" = "shared" }

  # Not the legacy KubernetesCluster tag: `kops delete cluster` treats resources carrying it as
  # the cluster's own and would try to delete them.
  tags = merge(var.tags, { Environment = var.environment })
}

#
# VPC, subnets and egress
#
resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(local.cluster_tag, { Name = var.cluster_name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = var.cluster_name }
}

resource "aws_subnet" "public" {
  for_each = local.public_subnet_cidrs

  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value

  tags = merge(local.cluster_tag, {
    Name                     = "utility-${each.key}.${var.cluster_name}"
    SubnetType               = "Utility"
    "kubernetes.io/role/elb" = "1"
  })
}

resource "aws_subnet" "private" {
  for_each = local.private_subnet_cidrs

  vpc_id            = aws_vpc.this.id
  availability_zone = each.key
  cidr_block        = each.value

  tags = merge(local.cluster_tag, {
    Name                              = "${each.key}.${var.cluster_name}"
    SubnetType                        = "Private"
    "kubernetes.io/role/internal-elb" = "1"
  })
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)

  domain = "vpc"

  tags = { Name = "nat-${each.key}.${var.cluster_name}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  for_each = toset(local.nat_azs)

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id

  tags = { Name = "${each.key}.${var.cluster_name}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "utility.${var.cluster_name}" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  for_each = toset(var.availability_zones)

  vpc_id = aws_vpc.this.id

  tags = { Name = "private-${each.key}.${var.cluster_name}" }
}

resource "aws_route" "private_nat" {
  for_each = aws_route_table.private

  route_table_id         = each.value.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = local.nat_gateway_ids[each.key]
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

#
# DNS: a public hosted zone for the cluster's API and internal records. Delegate it from the
# parent zone (an NS record with the zone's name_servers) before the first `kops update cluster`.
#
resource "aws_route53_zone" "cluster" {
  count = local.gossip ? 0 : 1

  name    = local.dns_zone
  comment = "kops cluster ${var.cluster_name}"
}

#
# kops state store: versioned (kops keeps no history of its own), private and encrypted.
#
resource "aws_s3_bucket" "kops_state" {
  bucket = local.state_bucket

  lifecycle {
    precondition {
      condition     = length(local.state_bucket) <= 63
      error_message = "The kops state bucket name \"${local.state_bucket}\" is longer than 63 characters; set kops_state_bucket."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "kops_state" {
  bucket = aws_s3_bucket.kops_state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "kops_state" {
  bucket = aws_s3_bucket.kops_state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "kops_state" {
  bucket = aws_s3_bucket.kops_state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "kops_state" {
  bucket = aws_s3_bucket.kops_state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

#
# SSH: the key pair kops puts on every instance (sshKeyName in the cluster spec).
#
resource "aws_key_pair" "kops" {
  key_name   = "kops-${var.cluster_name}"
  public_key = var.ssh_public_key
}
