#!/usr/bin/env bash
# Prints the root of the Terraform filesystem mirror that holds the hashicorp/aws provider for this
# machine's platform (the folder that contains registry.terraform.io/), for the real-provider tests.
# KOPSFORM_TEST_AWS_MIRROR, when set, names it; otherwise the whole file system is searched for
# terraform-provider-aws_* (Terraform's own working copies under .terraform/ do not count).
# Exits 1, saying what is missing, when there is none. Downloads nothing.
set -euo pipefail

platform=$(terraform version -json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["platform"])') || {
  echo "error: cannot ask terraform for its platform (is terraform on PATH?)" >&2
  exit 1
}

# The mirror root of one provider file, or nothing when the file is not laid out as a mirror:
#   unpacked: ROOT/registry.terraform.io/hashicorp/aws/VERSION/PLATFORM/terraform-provider-aws_*
#   packed:   ROOT/registry.terraform.io/hashicorp/aws/terraform-provider-aws_VERSION_PLATFORM.zip
mirror_root() {
  local file=$1 dir
  dir=$(dirname "$file")
  case "$file" in
    */registry.terraform.io/hashicorp/aws/*/"$platform"/terraform-provider-aws_*)
      [ -x "$file" ] || return 0
      dirname "$(dirname "$(dirname "$(dirname "$(dirname "$dir")")")")" ;;
    */registry.terraform.io/hashicorp/aws/terraform-provider-aws_*_"$platform".zip)
      dirname "$(dirname "$(dirname "$dir")")" ;;
  esac
}

if [ -n "${KOPSFORM_TEST_AWS_MIRROR:-}" ]; then
  root=$KOPSFORM_TEST_AWS_MIRROR
  for file in "$root"/registry.terraform.io/hashicorp/aws/*/"$platform"/terraform-provider-aws_* \
    "$root"/registry.terraform.io/hashicorp/aws/terraform-provider-aws_*_"$platform".zip; do
    if [ -e "$file" ] && [ -n "$(mirror_root "$file")" ]; then
      echo "$root"
      exit 0
    fi
  done
  echo "error: KOPSFORM_TEST_AWS_MIRROR=$root holds no hashicorp/aws provider for $platform" >&2
  echo "  expected $root/registry.terraform.io/hashicorp/aws/<version>/$platform/terraform-provider-aws_v<version>_x5" >&2
  exit 1
fi

while IFS= read -r file; do
  case "$file" in */.terraform/*) continue ;; esac
  root=$(mirror_root "$file")
  if [ -n "$root" ]; then
    echo "$root"
    exit 0
  fi
done < <(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -name 'terraform-provider-aws_*' -print 2>/dev/null | sort)

cat >&2 <<MISSING
error: no Terraform filesystem mirror with the hashicorp/aws provider for $platform on this machine.
  The real-provider tests run kops's kubernetes.tf with the real hashicorp/aws provider, offline:
  they need its binary at <mirror>/registry.terraform.io/hashicorp/aws/<version>/$platform/terraform-provider-aws_v<version>_x5
  (or the packed <mirror>/registry.terraform.io/hashicorp/aws/terraform-provider-aws_<version>_$platform.zip).
  Install one there, or set KOPSFORM_TEST_AWS_MIRROR to the <mirror> folder.
MISSING
exit 1
