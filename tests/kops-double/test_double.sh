#!/bin/sh
# Smoke test for the kops double: the full kopsform flow against real Terraform, once with a
# local-path state store and once with an s3:// store on moto_server (skipped when moto_server or
# the aws CLI is missing). Usage: tests/kops-double/test_double.sh [fixture-name]
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
KOPS="$HERE/kops"
FIXTURES=${FIXTURES:-"$HERE/../../../shared/fixtures/kops"}
FIXTURE=${1:-minimal-aws}
WORK=$(mktemp -d)
MOTO_PID=
cleanup() {
    if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 KOPS_DOUBLE_TERRAFORM=stand-ins
export KUBECONFIG="$WORK/kubeconfig" KOPS_DOUBLE_CLOUD="$WORK/cloud"
unset KOPS_CLUSTER_NAME

fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # expect <pattern> <file>
    grep -q -- "$1" "$2" || { cat "$2" >&2; fail "expected '$1' in $2"; }
}

CLUSTER=$(awk '/^kind: Cluster/{c=1} c && /^  name:/{print $2; exit}' "$FIXTURES/$FIXTURE/in-v1alpha2.yaml")

flow() { # flow <state store> <label>
    STATE=$1
    D="$WORK/$2"
    mkdir -p "$D"
    cp "$FIXTURES/$FIXTURE/in-v1alpha2.yaml" "$D/cluster.yml"

    "$KOPS" replace -f "$D/cluster.yml" --state "$STATE" >"$D/out" 2>&1 && fail "replace without --force must fail"
    expect "does not exist (try adding --force flag)" "$D/out"
    "$KOPS" replace --force -f "$D/cluster.yml" --state "$STATE" --name "$CLUSTER"
    "$KOPS" update cluster --name "$CLUSTER" --state "$STATE" --target terraform --out "$D/tf" >"$D/out" 2>"$D/err"
    expect "Terraform output has been placed into $D/tf" "$D/out"
    (cd "$D/tf" && terraform fmt -check >/dev/null && terraform init -input=false >/dev/null \
        && terraform plan -input=false -out=plan >/dev/null && terraform apply -input=false plan >/dev/null)

    "$KOPS" rolling-update cluster --name "$CLUSTER" --state "$STATE" >"$D/out" 2>/dev/null
    expect "No rolling-update required." "$D/out"
    "$KOPS" validate cluster --name "$CLUSTER" --state "$STATE" >"$D/out" 2>&1
    expect "Your cluster $CLUSTER is ready" "$D/out"

    # a new Kubernetes version and a new machine type for the nodes
    sed -e 's/^  kubernetesVersion: v1\.\([0-9]*\)\..*/  kubernetesVersion: v1.\1.99/' \
        -e '/name: nodes/,$ s/machineType: .*/machineType: c5.large/' "$D/cluster.yml" >"$D/cluster2.yml"
    "$KOPS" replace -f "$D/cluster2.yml" --state "$STATE"
    "$KOPS" update cluster "$CLUSTER" --state "$STATE" --target=terraform --out "$D/tf" >/dev/null 2>&1
    (cd "$D/tf" && terraform plan -input=false -out=plan -no-color >"$D/plan" && terraform apply -input=false plan >/dev/null)
    expect "must be replaced" "$D/plan"
    "$KOPS" rolling-update cluster "$CLUSTER" --state "$STATE" >"$D/out" 2>/dev/null
    expect "NeedsUpdate" "$D/out"
    expect "Must specify --yes to rolling-update." "$D/out"
    "$KOPS" rolling-update cluster "$CLUSTER" --state "$STATE" --yes >/dev/null 2>"$D/err"
    expect "Completed rolling update" "$D/err"
    "$KOPS" rolling-update cluster "$CLUSTER" --state "$STATE" >"$D/out" 2>/dev/null
    expect "No rolling-update required." "$D/out"

    "$KOPS" export kubecfg "$CLUSTER" --state "$STATE" --admin >"$D/out"
    expect "kOps has set your kubectl context to $CLUSTER" "$D/out"
    [ "$(stat -c %a "$KUBECONFIG")" = 600 ] || fail "kubeconfig must be mode 0600"

    # delete instancegroup (kops: cmd/kops/delete_instancegroup.go): an unknown group, the only
    # control-plane group, no answer to the question, "n", then "y" and --yes
    "$KOPS" delete ig nope --name "$CLUSTER" --state "$STATE" --yes >"$D/out" 2>&1 && fail "unknown group must fail"
    expect 'Error: error reading InstanceGroup "nope": InstanceGroup.kops.k8s.io "nope" not found' "$D/out"
    CP=$("$KOPS" get ig --name "$CLUSTER" --state "$STATE" | awk '$2 == "ControlPlane" {print $1; exit}')
    "$KOPS" delete instancegroup "$CP" --name "$CLUSTER" --state "$STATE" --yes >"$D/out" 2>&1 \
        && fail "the only control-plane group must stay"
    expect "Error: cannot delete the only control plane instance group" "$D/out"
    KUBECONFIG="$WORK/no-kubeconfig" "$KOPS" delete ig nodes --state "$STATE" --yes >"$D/out" 2>&1 \
        && fail "delete ig needs --name (or a current kubeconfig context)"
    expect "Error: --name is required" "$D/out"
    "$KOPS" delete ig nodes --name "$CLUSTER" --state "$STATE" </dev/null >"$D/out" 2>&1 && fail "no answer must fail"
    expect 'Do you really want to delete instance group "nodes"? This action cannot be undone. (y/N)' "$D/out"
    expect "Error: error reading from input: EOF" "$D/out"
    echo n | "$KOPS" delete ig nodes --name "$CLUSTER" --state "$STATE" >"$D/out" 2>&1 && fail "n must not delete"
    "$KOPS" get ig nodes --name "$CLUSTER" --state "$STATE" >/dev/null || fail "nodes must still be there"
    "$KOPS" delete ig a b --name "$CLUSTER" --state "$STATE" --yes >"$D/out" 2>&1 && fail "two groups at once"
    expect "Error: can only delete one instance group at a time" "$D/out"
    echo y | "$KOPS" delete instancegroups nodes --name "$CLUSTER" --state "$STATE" >"$D/out" 2>"$D/err"
    expect 'InstanceGroup "nodes" found for deletion' "$D/out"
    expect 'Deleted InstanceGroup: "nodes"' "$D/out"
    expect 'Deleting "nodes"' "$D/err"
    "$KOPS" get ig nodes --name "$CLUSTER" --state "$STATE" >"$D/out" 2>&1 && fail "nodes must be gone"
    expect 'instancegroup not found "nodes"' "$D/out"
    "$KOPS" rolling-update cluster "$CLUSTER" --state "$STATE" >"$D/out" 2>/dev/null
    grep -q "^nodes" "$D/out" && fail "a deleted group has no cloud group"

    "$KOPS" delete cluster --name "$CLUSTER" --state "$STATE" >"$D/out" 2>/dev/null
    expect "Must specify --yes to delete cluster" "$D/out"
    (cd "$D/tf" && terraform destroy -auto-approve -input=false >/dev/null)
    "$KOPS" delete cluster --name "$CLUSTER" --state "$STATE" >"$D/out" 2>/dev/null
    expect "No cloud resources to delete" "$D/out"
    "$KOPS" delete cluster --name "$CLUSTER" --state "$STATE" --yes >"$D/out" 2>/dev/null
    expect "Deleted cluster: \"$CLUSTER\"" "$D/out"
    "$KOPS" get clusters "$CLUSTER" --state "$STATE" >"$D/out" 2>&1 && fail "cluster must be gone"
    expect "cluster not found" "$D/out"
    echo "ok: $FIXTURE with state store $STATE"
}

flow "$WORK/state" local

# A local configBase cannot render kops's managed files into Terraform: the double writes them
# itself (with a warning) unless KOPS_DOUBLE_STRICT=1, where it fails as kOps does.
D="$WORK/strict"
mkdir -p "$D"
"$KOPS" replace --force -f "$FIXTURES/$FIXTURE/in-v1alpha2.yaml" --state "$D/state" 2>/dev/null
"$KOPS" update cluster "$CLUSTER" --state "$D/state" --target terraform --out "$D/tf" \
    --create-kube-config=false >"$D/out" 2>&1
expect "must be of a type that can render in Terraform" "$D/out"
expect "KOPS_DOUBLE_STRICT=1" "$D/out"
KOPS_DOUBLE_STRICT=1 "$KOPS" update cluster "$CLUSTER" --state "$D/state" --target terraform --out "$D/tf2" \
    --create-kube-config=false >"$D/out" 2>&1 && fail "strict update with a local configBase must fail"
expect "Error: error running tasks: deadline exceeded executing task ManagedFile/" "$D/out"
[ ! -e "$D/tf2/kubernetes.tf" ] || fail "a failed update must not write kubernetes.tf"
echo "ok: local configBase with --target terraform (lenient, and strict)"

s3_etags() { # every key and ETag of bucket kops-state
    aws --endpoint-url "$S3_ENDPOINT" s3api list-objects-v2 --bucket kops-state \
        --query 'Contents[].[Key,ETag]' --output text
}

ssh_credential() { # an SSHCredential document for $CLUSTER
    printf '%s\n' "---" "apiVersion: kops.k8s.io/v1alpha2" "kind: SSHCredential" "metadata:" "  name: admin" \
        "  labels:" "    kops.k8s.io/cluster: $CLUSTER" "spec:" \
        "  publicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdfF1Rwp4ZzR3F7s1Dc9y9mXQm2H1yC6dK3qyXj0G5v double"
}

isolation() { # --state a local snapshot, spec.configBase the live s3:// store (see README.md)
    D="$WORK/isolation"
    mkdir -p "$D"
    LIVE=s3://kops-state/live
    sed "s|^  configBase: .*|  configBase: $LIVE/$CLUSTER|" "$FIXTURES/$FIXTURE/in-v1alpha2.yaml" >"$D/cluster.yml"
    "$KOPS" replace --force -f "$D/cluster.yml" --state "$LIVE" 2>/dev/null
    "$KOPS" update cluster "$CLUSTER" --state "$LIVE" --target terraform --out "$D/live" \
        --create-kube-config=false >/dev/null 2>&1
    # the managed files are aws_s3_object resources: in the store after `terraform apply` only
    s3_etags >"$D/keys"
    expect "live/$CLUSTER/pki/private/kubernetes-ca/keyset.yaml" "$D/keys"
    grep -q "kops-version.txt" "$D/keys" && fail "update --target terraform must not write kops-version.txt"
    (cd "$D/live" && terraform init -input=false >/dev/null && terraform apply -input=false -auto-approve >/dev/null)
    s3_etags >"$D/before"
    expect "live/$CLUSTER/kops-version.txt" "$D/before"

    # A dry run against a snapshot: replace writes to --state; update reads the keys from
    # configBase and, every key being there, writes nothing to it.
    aws --endpoint-url "$S3_ENDPOINT" s3 sync "$LIVE/$CLUSTER" "$D/snap/$CLUSTER" --exclude '*backups/*' >/dev/null
    sed 's/machineType: .*/machineType: c5.2xlarge/' "$D/cluster.yml" >"$D/changed.yml"
    "$KOPS" replace -f "$D/changed.yml" --state "$D/snap" 2>/dev/null
    "$KOPS" update cluster "$CLUSTER" --state "$D/snap" --target terraform --out "$D/dry" \
        --create-kube-config=false >/dev/null 2>&1
    s3_etags >"$D/after"
    cmp -s "$D/before" "$D/after" || { diff "$D/before" "$D/after" >&2; fail "the dry run changed the live store"; }
    grep -rq "c5.2xlarge" "$D/snap/$CLUSTER/instancegroup" || fail "replace must write to --state"
    expect 'bucket *= "kops-state"' "$D/dry/kubernetes.tf"

    # What still reaches configBase: an SSHCredential (replace) ...
    ssh_credential >>"$D/changed.yml"
    "$KOPS" replace -f "$D/changed.yml" --state "$D/snap" 2>/dev/null
    s3_etags >"$D/after"
    expect "live/$CLUSTER/pki/ssh/public/admin/" "$D/after"
    [ ! -e "$D/snap/$CLUSTER/pki/ssh" ] || fail "an SSHCredential must not go to --state"
    # ... and the keys and secrets of a new cluster (or a new etcd cluster).
    sed "s|^  configBase: .*|  configBase: s3://kops-state/new/$CLUSTER|" "$D/cluster.yml" >"$D/new.yml"
    "$KOPS" replace --force -f "$D/new.yml" --state "$D/snap-new" 2>/dev/null
    "$KOPS" update cluster "$CLUSTER" --state "$D/snap-new" --target terraform --out "$D/dry-new" \
        --create-kube-config=false >/dev/null 2>"$D/err"
    expect 'Issuing new certificate: "kubernetes-ca"' "$D/err"
    s3_etags >"$D/after"
    expect "new/$CLUSTER/pki/private/kubernetes-ca/keyset.yaml" "$D/after"
    expect "new/$CLUSTER/secrets/kube" "$D/after"
    [ ! -e "$D/snap-new/$CLUSTER/pki" ] || fail "keys must go to configBase, not to --state"
    # KOPS_FEATURE_FLAGS=-TerraformManagedFiles: kops writes the managed files itself.
    KOPS_FEATURE_FLAGS=-TerraformManagedFiles "$KOPS" update cluster "$CLUSTER" --state "$D/snap-new" \
        --target terraform --out "$D/dry-flag" --create-kube-config=false >/dev/null 2>"$D/err"
    expect 'FeatureFlag "TerraformManagedFiles"=false' "$D/err"
    grep -q aws_s3_object "$D/dry-flag/kubernetes.tf" && fail "no aws_s3_object without TerraformManagedFiles"
    s3_etags >"$D/after"
    expect "new/$CLUSTER/kops-version.txt" "$D/after"

    (cd "$D/live" && terraform destroy -input=false -auto-approve >/dev/null)
    "$KOPS" delete cluster "$CLUSTER" --state "$LIVE" --yes >/dev/null 2>&1
    "$KOPS" delete cluster "$CLUSTER" --state "$D/snap-new" --yes >/dev/null 2>&1
    [ -z "$(aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://kops-state/)" ] \
        || { aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://kops-state/ >&2; fail "state store not empty"; }
    echo "ok: $FIXTURE with --state a local snapshot and spec.configBase $LIVE/$CLUSTER"
}

if command -v moto_server >/dev/null 2>&1 && command -v aws >/dev/null 2>&1; then
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
    MOTO_PID=$!
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
    export S3_ENDPOINT="http://127.0.0.1:$PORT" S3_ACCESS_KEY_ID=test S3_SECRET_ACCESS_KEY=test
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        aws --endpoint-url "$S3_ENDPOINT" s3 mb s3://kops-state >/dev/null 2>&1 && break
        sleep 0.5
    done
    flow s3://kops-state/clusters s3
    [ -z "$(aws --endpoint-url "$S3_ENDPOINT" s3 ls --recursive s3://kops-state/clusters/)" ] \
        || fail "state store not empty after delete cluster --yes"
    isolation
else
    echo "skip: moto_server or aws CLI not found"
fi
