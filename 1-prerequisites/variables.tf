#
# Cluster
#
variable "cluster_name" {
  description = "kops cluster name, a DNS name (prod.k8s.example.com). A name ending in .k8s.local makes a gossip cluster without a Route53 zone."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.cluster_name))
    error_message = "cluster_name must be a lower-case DNS name with at least two labels, e.g. prod.k8s.example.com."
  }
}

variable "environment" {
  description = "Environment name, used in tags and cloud labels."
  type        = string
  default     = "production"
}

variable "kubernetes_version" {
  description = "Kubernetes version kops installs (kubernetesVersion in the cluster spec)."
  type        = string
  default     = "1.33.4"
}

variable "tags" {
  description = "Extra tags for the resources of this layer; also passed to kops as cloudLabels for the cluster's own resources."
  type        = map(string)
  default = {
    Project   = "kubernetes"
    ManagedBy = "terraform"
  }
}

#
# Region and network
#
variable "region" {
  description = "AWS region of the cluster."
  type        = string
  default     = "eu-west-1"
}

variable "availability_zones" {
  description = "Availability zones to spread the subnets over, one public (utility) and one private subnet each."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

  validation {
    condition     = length(var.availability_zones) >= 1 && length(var.availability_zones) <= 6 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must list between 1 and 6 distinct zones."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC. Private subnets get /19s of a /16 (cidrsubnet newbits 3), utility subnets /22s at the top of it."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR block of /20 or larger, e.g. 10.0.0.0/16."
  }
}

variable "single_nat_gateway" {
  description = "Use one NAT gateway for all zones (cheaper, but a zone outage cuts egress for every zone) instead of one per zone."
  type        = bool
  default     = false
}

variable "admin_access_cidrs" {
  description = "CIDR blocks allowed to reach the Kubernetes API and SSH (kubernetesApiAccess and sshAccess). Narrow this down."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

#
# DNS and kops state
#
variable "dns_zone" {
  description = "Route53 public hosted zone to create for the cluster. Defaults to the cluster name; delegate it from the parent zone. Ignored for .k8s.local clusters."
  type        = string
  default     = null
}

variable "kops_state_bucket" {
  description = "Name of the S3 bucket for the kops state store. Defaults to kops-state-<account id>-<cluster name with dashes>."
  type        = string
  default     = null
}

#
# Instances
#
variable "kops_ami_id" {
  description = "AMI for every instance group. When null, the newest image matching ami_name_filter from ami_owner is used."
  type        = string
  default     = null
}

variable "ami_owner" {
  description = "Owner of the images searched when kops_ami_id is null (099720109477 is Canonical)."
  type        = string
  default     = "099720109477"
}

variable "ami_name_filter" {
  description = "Image name pattern searched when kops_ami_id is null. Its architecture must match the machine types."
  type        = string
  default     = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
}

variable "master_count" {
  description = "Number of control-plane instance groups (one instance each), placed in the first zones of availability_zones. 1 for test clusters, 3 for production."
  type        = number
  default     = 3

  validation {
    condition     = contains([1, 3, 5], var.master_count)
    error_message = "master_count must be 1, 3 or 5 (etcd needs an odd number of members)."
  }
}

variable "master_machine_type" {
  description = "EC2 instance type of the control-plane nodes."
  type        = string
  default     = "m6i.large"
}

variable "node_machine_type" {
  description = "EC2 instance type of the worker nodes."
  type        = string
  default     = "m6i.large"
}

variable "node_min_size" {
  description = "Minimum size of the worker nodes' autoscaling group."
  type        = number
  default     = 3
}

variable "node_max_size" {
  description = "Maximum size of the worker nodes' autoscaling group."
  type        = number
  default     = 6
}

variable "ssh_public_key" {
  description = "OpenSSH public key imported as the cluster's EC2 key pair (sshKeyName). Pass it with TF_VAR_ssh_public_key=\"$(cat ~/.ssh/id_ed25519.pub)\"."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+", var.ssh_public_key))
    error_message = "ssh_public_key must be an OpenSSH public key line (ssh-ed25519 AAAA... or ssh-rsa AAAA...)."
  }
}
