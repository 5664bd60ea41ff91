#!/usr/bin/env python3
"""Writes the inputs of the benchmarks (bench/run.sh).

  fixtures.py tasks100 DIR
      DIR/tasks.toml, DIR/justfile and DIR/Makefile: the same 100 tasks three times. Each has a
      description and three commands; task N depends on task N-1 and, from 10 on, on task N-10,
      so `step-99` needs all 100 (the full chain).
  fixtures.py tasks N DIR
      DIR/tasks.toml alone with N such tasks (the same shape: step-N-1 needs them all), for the
      instruction counts of bench/callgrind.sh at 100, 1,000 and 3,000 tasks.
  fixtures.py standins DIR LOGS OUTPUTS_JSON DELAY
      DIR/terraform and DIR/kops: /bin/sh stand-ins that append their arguments to
      LOGS/terraform.log and LOGS/kops.log and answer at once. `terraform output -json` prints
      OUTPUTS_JSON's content; DELAY (seconds, "0" for none) is slept by the steps of the
      workflow: kops replace and update, terraform init, plan and apply.
  fixtures.py fleet N DIR TASKS_TOML
      DIR/tasks.toml with N clusters c01..cNN in one stage sharing one prerequisites layer, each
      with its own folder clusters/cNN and values file values/cNN.yaml; the tasks are those of
      TASKS_TOML (examples/fleet/tasks.toml) from its [review] table on; each cluster folder has a
      committed .terraform.lock.hcl and DIR/.kopsform/plugin-cache holds its provider (warm cache).
"""
import json
import os
import shlex
import sys

N_TASKS = 100


def task_name(i):
    return "step-%02d" % i


def deps(i):
    return [task_name(d) for d in (i - 1, i - 10) if d >= 0]


def commands(i):
    layer = "layers/%02d" % i
    return [
        ["echo", "checking %s" % layer],
        ["echo", "terraform", "-chdir=%s" % layer, "plan", "-out=%02d.tfplan" % i],
        ["echo", "kubectl", "apply", "-f", "manifests/%02d.yaml" % i],
    ]


def tasks100(out, n_tasks=N_TASKS):
    os.makedirs(out, exist_ok=True)
    toml = ["# 100 tasks for the start-up benchmark (bench/fixtures.py): step-99 needs them all.", ""]
    just = ["# The same 100 tasks as tasks.toml, as just recipes.", ""]
    make = ["# The same 100 tasks as tasks.toml, as make targets.", ""]
    make.append(".PHONY: " + " ".join(task_name(i) for i in range(n_tasks)))
    make.append("")
    for i in range(n_tasks):
        name, desc = task_name(i), "Step %d of the rollout: check, plan and apply layer %02d" % (i, i)
        toml.append("[tasks.%s]" % name)
        toml.append("desc = %s" % json.dumps(desc))
        toml.append("deps = [%s]" % ", ".join(json.dumps(d) for d in deps(i)))
        toml.append("steps = [")
        toml.extend("  [%s]," % ", ".join(json.dumps(a) for a in c) for c in commands(i))
        toml.append("]")
        toml.append("")
        just.append("# %s" % desc)
        just.append("%s:%s" % (name, "".join(" " + d for d in deps(i))))
        just.extend("    %s" % " ".join(shlex.quote(a) for a in c) for c in commands(i))
        just.append("")
        make.append("# %s" % desc)
        make.append("%s:%s" % (name, "".join(" " + d for d in deps(i))))
        make.extend("\t%s" % " ".join(shlex.quote(a) for a in c) for c in commands(i))
        make.append("")
    for name, lines in (("tasks.toml", toml), ("justfile", just), ("Makefile", make)):
        with open(os.path.join(out, name), "w") as f:
            f.write("\n".join(lines))


TERRAFORM = """#!/bin/sh
# terraform stand-in of bench/run.sh: logs its arguments, answers at once{delay_note}.
echo "$*" >> {log}
case "$1" in -chdir=*) shift ;; esac
case "$1" in
  output) printf '%s\\n' {outputs} ;;
  version)
    if [ "${{2:-}}" = -json ]; then
      printf '%s\\n' '{{"terraform_version":"1.11.4","platform":"linux_amd64","provider_selections":{{}},"terraform_outdated":false}}'
    else
      printf 'Terraform v1.11.4\\non linux_amd64\\n'
    fi ;;
  init) {sleep}printf 'Terraform has been successfully initialized!\\n' ;;
  plan)
    {sleep}for a in "$@"; do
      case "$a" in -out=*) printf 'stand-in plan\\n' > "${{a#-out=}}" ;; esac
    done
    printf 'Plan: 0 to add, 0 to change, 0 to destroy.\\n' ;;
  show) printf '%s\\n' '{{"format_version":"1.0"}}' ;;
  apply) {sleep}printf 'Apply complete! Resources: 0 added, 0 changed, 0 destroyed.\\n' ;;
esac
"""

KOPS = """#!/bin/sh
# kops stand-in of bench/run.sh: logs its arguments, answers at once{delay_note}.
echo "$*" >> {log}
case "$1" in
  version) printf 'Client version: 1.34.1 (git-v1.34.1)\\n' ;;
  replace) {sleep}: ;;
  update)
    {sleep}out=. prev=
    for a in "$@"; do
      [ "$prev" = --out ] && out=$a
      prev=$a
    done
    mkdir -p "$out/data"
    printf '%s\\n' '# kubernetes.tf of the kops stand-in: the provider real kops names' \\
      'terraform {{' '  required_providers {{' '    aws = {{' '      source = "hashicorp/aws"' \\
      '    }}' '  }}' '}}' > "$out/kubernetes.tf"
    printf 'stand-in\\n' > "$out/data/stand-in_user_data" ;;
esac
"""


def standins(out, logs, outputs_json, delay):
    os.makedirs(out, exist_ok=True)
    with open(outputs_json) as f:
        outputs = json.dumps(json.load(f), separators=(",", ":"))
    slow = delay not in ("", "0")
    fields = {
        "outputs": shlex.quote(outputs),
        "sleep": ("sleep %s; " % delay) if slow else "",
        "delay_note": (" (the workflow's steps sleep %ss)" % delay) if slow else "",
    }
    for name, text in (("terraform", TERRAFORM), ("kops", KOPS)):
        path = os.path.join(out, name)
        log = shlex.quote(os.path.join(logs, name + ".log"))
        with open(path, "w") as f:
            f.write(text.format(log=log, **fields))
        os.chmod(path, 0o755)


AWS_VERSION = "5.100.0"


def platform():
    """This machine's platform as Terraform names a cached package's folder (linux_amd64)."""
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return "%s_%s" % (os.uname().sysname.lower(), arch)

# The dependency lock file a team commits with each cluster folder (the checksums are placeholders:
# the stand-in terraform checks none).
LOCK_FILE = """# This file is maintained automatically by "terraform init".
# Manual edits may be lost in future updates.

provider "registry.terraform.io/hashicorp/aws" {
  version = "%s"
  hashes = [
    "h1:placeholderplaceholderplaceholderplaceholder=",
    "zh:0000000000000000000000000000000000000000000000000000000000000000",
  ]
}
""" % AWS_VERSION


def fleet(n, out, tasks_toml):
    with open(tasks_toml) as f:
        text = f.read()
    tasks = text[text.index("\n[review]") + 1:]
    lines = [
        "# %d clusters in one stage for the parallel benchmark (bench/fixtures.py). They share the" % n,
        "# prerequisites layer; kops and terraform are stand-ins whose steps take a fixed time. As in",
        "# the usual CI run, each cluster folder has a committed .terraform.lock.hcl naming the provider",
        "# its kubernetes.tf needs (hashicorp/aws) and the project's provider cache is warm (a",
        "# placeholder package), so the inits share the cache's lock (src/run/plugin_cache.rs).",
        "",
        "[prerequisites]",
        'dir = "1-prerequisites"',
        "",
    ]
    os.makedirs(os.path.join(out, "1-prerequisites"), exist_ok=True)
    os.makedirs(os.path.join(out, "values"), exist_ok=True)
    for i in range(1, n + 1):
        cid = "c%02d" % i
        os.makedirs(os.path.join(out, "clusters", cid), exist_ok=True)
        with open(os.path.join(out, "clusters", cid, ".terraform.lock.hcl"), "w") as f:
            f.write(LOCK_FILE)
        with open(os.path.join(out, "values", cid + ".yaml"), "w") as f:
            f.write("cluster_name: %s.k8s.local\nkops_worker_machine_min_size: %d\n" % (cid, 1 + i % 3))
        lines += [
            "[clusters.%s]" % cid,
            'name = "{{cluster_name}}"',
            'state = "{{kops_state_store}}"',
            'values = ["values/%s.yaml"]' % cid,
            'stage = "all"',
            'dir = "clusters/%s"' % cid,
            "",
        ]
    lines += [
        "[tools]",
        'terraform = "bin/terraform"',
        'kops = "bin/kops"',
        "",
    ]
    with open(os.path.join(out, "tasks.toml"), "w") as f:
        f.write("\n".join(lines) + tasks)
    package = os.path.join(out, ".kopsform", "plugin-cache", "registry.terraform.io", "hashicorp",
                           "aws", AWS_VERSION, platform())
    os.makedirs(package, exist_ok=True)
    os.chmod(os.path.join(out, ".kopsform"), 0o700)
    with open(os.path.join(package, "terraform-provider-aws_v%s_x5" % AWS_VERSION), "w") as f:
        f.write("placeholder of the fleet fixture: the stand-in terraform never runs it\n")


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "tasks100":
        tasks100(args[1])
    elif len(args) == 3 and args[0] == "tasks":
        tasks100(args[2], int(args[1]))
    elif len(args) == 5 and args[0] == "standins":
        standins(*args[1:])
    elif len(args) == 4 and args[0] == "fleet":
        fleet(int(args[1]), args[2], args[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
