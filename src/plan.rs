//! Terraform plan JSON (`terraform show -json`) -> a summary. (Being written.)
