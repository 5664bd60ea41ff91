# The dev cluster's Terraform: kops writes kubernetes.tf and data/ next to this file. A real
# fleet gives each cluster its own state key, e.g. backend "s3" { key = "clusters/dev.tfstate" }.
terraform {
  backend "local" {}
}
