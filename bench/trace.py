#!/usr/bin/env python3
"""Reads an strace log (strace -f -qq -v -s 4096 -e trace=execve,chdir,clone,clone3,fork,vfork)
for the benchmarks.

  trace.py count TRACE            JSON on stdout: programs started (successful execve) in the whole
                                  tree, the direct children of the traced command, per program name
  trace.py replay TRACE OUT.sh    writes a plain sh script that runs the traced command's direct
                                  children one after another: same program, arguments, folder and
                                  the environment variables that differ from the traced command's
"""
import json
import os
import re
import shlex
import sys
from collections import Counter

LINE = re.compile(r"^(\d+) +(.*)$")
CALL = re.compile(r"^(\w+)\((.*)\) += (-?\d+|\?)")


def parse_string(text, i):
    """Parses one C-escaped string of strace starting at text[i] == '"'; returns (value, next i)."""
    assert text[i] == '"', text[i:i + 20]
    i += 1
    out = bytearray()
    while text[i] != '"':
        c = text[i]
        if c == "\\":
            n = text[i + 1]
            simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, '"': 34, "\\": 92}
            if n in simple:
                out.append(simple[n])
                i += 2
            elif n == "x":
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
            else:
                j = i + 1
                while j < i + 4 and text[j] in "01234567":
                    j += 1
                out.append(int(text[i + 1:j], 8))
                i = j
        else:
            out.extend(c.encode())
            i += 1
    i += 1
    if text.startswith("...", i):
        i += 3
    return out.decode(errors="replace"), i


def parse_array(text, i):
    """Parses ["a", "b", ...] at text[i]; returns (list, next i)."""
    assert text[i] == "[", text[i:i + 20]
    i += 1
    items = []
    while text[i] != "]":
        if text[i] == '"':
            value, i = parse_string(text, i)
            items.append(value)
        elif text.startswith("...", i):
            i += 3
        else:
            i += 1
    return items, i + 1


class Process:
    def __init__(self, pid, parent):
        self.pid = pid
        self.parent = parent
        self.cwd = None
        self.execs = []  # (path, argv, env, cwd) of each successful execve


def read(path):
    """The processes of a trace, keyed by thread-group id, in the order they appeared."""
    pending = {}
    logical = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(2)
            if rest.endswith("<unfinished ...>"):
                pending[pid] = rest[: -len("<unfinished ...>")].rstrip()
                continue
            resumed = re.match(r"^<\.\.\. \w+ resumed>(.*)$", rest)
            if resumed:
                rest = pending.pop(pid, "") + resumed.group(1)
            logical.append((pid, rest))

    procs = {}
    tgid = {}  # thread id -> thread-group id
    root = None
    for pid, rest in logical:
        if root is None:
            root = pid
            procs[pid] = Process(pid, None)
            tgid[pid] = pid
        group = tgid.setdefault(pid, pid)
        proc = procs.setdefault(group, Process(group, None))
        m = CALL.match(rest)
        if not m:
            continue
        name, args, result = m.group(1), m.group(2), m.group(3)
        if name in ("clone", "clone3", "fork", "vfork"):
            if not result.lstrip("-").isdigit() or int(result) <= 0:
                continue
            child = int(result)
            # The child may have run (and been recorded as a process of unknown parent) before
            # the clone returned in its parent: a vfork child always does.
            early = procs.get(child) if tgid.get(child) == child else None
            if "CLONE_THREAD" in args:
                tgid[child] = group
                if early is not None:  # a thread after all: its children are the group's
                    del procs[child]
                    for p in procs.values():
                        if p.parent == child:
                            p.parent = group
            elif early is not None:
                early.parent = group
                early.execs = [(e, a, env, cwd or proc.cwd) for e, a, env, cwd in early.execs]
                early.cwd = early.cwd or proc.cwd
            else:
                tgid[child] = child
                procs[child] = Process(child, group)
                procs[child].cwd = proc.cwd
        elif name == "chdir" and result == "0":
            target, _ = parse_string(args, 0)
            proc.cwd = target if target.startswith("/") or proc.cwd is None else os.path.join(proc.cwd, target)
        elif name == "execve" and result == "0":
            path, i = parse_string(args, 0)
            i = args.index("[", i)
            argv, i = parse_array(args, i)
            env = {}
            j = args.find("[", i)
            if j != -1:
                for item in parse_array(args, j)[0]:
                    key, _, value = item.partition("=")
                    env[key] = value
            proc.execs.append((path, argv, env, proc.cwd))
    return root, procs


def count(path):
    root, procs = read(path)
    programs = Counter()
    execs = 0
    for proc in procs.values():
        for exe, _argv, _env, _cwd in proc.execs:
            execs += 1
            programs[os.path.basename(exe)] += 1
    children = [p for p in procs.values() if p.parent == root and p.execs]
    return {
        "execs": execs,
        "processes": sum(1 for p in procs.values() if p.execs),
        "direct_children": len(children),
        "programs": dict(sorted(programs.items())),
        "children": [" ".join([os.path.basename(p.execs[0][1][0])] + p.execs[0][1][1:]) for p in children],
    }


def replay(path, out):
    root, procs = read(path)
    base_env = procs[root].execs[0][2]
    lines = [
        "#!/bin/sh",
        "# Generated by bench/trace.py from an strace of kopsform: the same child commands, in the",
        "# same order, folders and environment, run one after another by a plain shell.",
    ]
    for proc in procs.values():
        if proc.parent != root or not proc.execs:
            continue
        exe, argv, env, cwd = proc.execs[0]
        parts = []
        if cwd:
            parts.append("cd %s" % shlex.quote(cwd))
        changed = {k: v for k, v in env.items() if base_env.get(k) != v}
        removed = [k for k in base_env if k not in env]
        if changed:
            parts.append("export " + " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(changed.items())))
        if removed:
            parts.append("unset " + " ".join(sorted(removed)))
        parts.append("exec " + " ".join(shlex.quote(a) for a in [exe] + argv[1:]))
        lines.append("(%s)" % " && ".join(parts))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "count":
        json.dump(count(sys.argv[2]), sys.stdout, indent=1)
        print()
    elif len(sys.argv) == 4 and sys.argv[1] == "replay":
        replay(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
