#!/usr/bin/env python3
"""Writes a Terraform plan JSON (format 1.2) with N resource changes, shaped like the changes kops's
kubernetes.tf produces (launch templates, autoscaling groups, volumes, security group rules), for the
review benchmark. Usage: gen_plan.py N OUT.json"""
import json
import sys

KINDS = [
    ("aws_launch_template", "update", {"instance_type": ("t3.medium", "t3.large"), "image_id": ("ami-1", "ami-2")}),
    ("aws_autoscaling_group", "update", {"max_size": (3, 5), "min_size": (1, 2)}),
    ("aws_ebs_volume", "create", {"size": (None, 20), "type": (None, "gp3")}),
    ("aws_security_group_rule", "delete", {"from_port": (443, None), "protocol": ("tcp", None)}),
    ("aws_iam_role_policy", "create", {"policy": (None, "{\"Version\":\"2012-10-17\"}")}),
]


def change(i):
    rtype, action, attrs = KINDS[i % len(KINDS)]
    before = None if action == "create" else {k: v[0] for k, v in attrs.items()}
    after = None if action == "delete" else {k: v[1] for k, v in attrs.items()}
    if before is not None:
        before["tags"] = {"Name": "r%d" % i, "KubernetesCluster": "bench.example.com"}
    if after is not None:
        after["tags"] = {"Name": "r%d" % i, "KubernetesCluster": "bench.example.com"}
    return {
        "address": "%s.r%d" % (rtype, i),
        "mode": "managed",
        "type": rtype,
        "name": "r%d" % i,
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {
            "actions": [action],
            "before": before,
            "after": after,
            "after_unknown": {} if after is not None else False,
            "before_sensitive": {} if before is not None else False,
            "after_sensitive": {} if after is not None else False,
        },
    }


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    plan = {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "resource_changes": [change(i) for i in range(n)],
        "output_changes": {},
        "errored": False,
    }
    with open(out, "w") as f:
        json.dump(plan, f)


if __name__ == "__main__":
    main()
