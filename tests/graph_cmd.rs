//! `kopsform graph`, `kopsform completions` and `kopsform man`: the Mermaid output parsed by
//! Mermaid's own parser (tests/ci-tools/mermaid.js) and the DOT output by Graphviz, both compared
//! node by node and edge by edge with what tasks.toml says; the completion scripts loaded by bash,
//! zsh and fish and asked for completions; the man pages checked by groff and man.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{Project, Run, repo, require};

const BIN: &str = env!("CARGO_BIN_EXE_kopsform");

/// A temporary project whose commands find kopsform first on PATH, the Mermaid parser's
/// modules on NODE_PATH, and man pages printed whole.
fn project() -> Project {
    let mut p = Project::new();
    p.prepend_path(Path::new(BIN).parent().unwrap());
    let modules = repo().join("target/ci-tools/node_modules");
    p.env("NODE_PATH", modules.to_str().unwrap());
    p.env("MANPAGER", "cat");
    p.env("MANWIDTH", "100");
    p
}

fn repo_dir() -> String {
    repo().display().to_string()
}

fn fleet_dir() -> String {
    repo().join("examples/fleet").display().to_string()
}

/// What a tasks.toml says about its tasks: names in file order, which confirm, and the edges
/// (dependency, dependent) in file order, limited to `only` (and their dependencies) when given.
struct Expected {
    names: Vec<String>,
    confirm: Vec<String>,
    edges: Vec<(String, String)>,
}

fn expected(tasks_toml: &Path, only: &[&str]) -> Expected {
    let text = std::fs::read_to_string(tasks_toml).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let tasks = doc["tasks"].as_table().unwrap();
    let deps = |name: &str| -> Vec<String> {
        tasks[name]
            .get("deps")
            .and_then(|d| d.as_array())
            .map(|d| d.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut keep: Vec<String> = Vec::new();
    let mut stack: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    while let Some(name) = stack.pop() {
        if !keep.contains(&name) {
            stack.extend(deps(&name));
            keep.push(name);
        }
    }
    let names: Vec<String> = tasks
        .keys()
        .filter(|n| only.is_empty() || keep.contains(n))
        .cloned()
        .collect();
    let confirm = names
        .iter()
        .filter(|n| {
            tasks[n.as_str()]
                .get("confirm")
                .is_some_and(|c| c.as_bool() != Some(false))
        })
        .cloned()
        .collect();
    let mut edges = Vec::new();
    for n in &names {
        for d in deps(n) {
            edges.push((d, n.clone()));
        }
    }
    Expected {
        names,
        confirm,
        edges,
    }
}

/// A package `.ci/run` installs with npm into target/ci-tools.
fn require_node_module(package: &str) {
    let path = repo().join("target/ci-tools/node_modules").join(package);
    assert!(
        path.exists(),
        "{} is missing: `bash .ci/run` installs it (npm install --prefix target/ci-tools mermaid@11.17.2 jsdom@29.1.1)",
        path.display()
    );
}

/// What Mermaid's parser understood of `text` (tests/ci-tools/mermaid.js), or the test fails
/// with Mermaid's syntax error.
fn mermaid_parse(p: &Project, text: &str) -> Value {
    require("node", "install Node.js (the Mermaid parser runs in node)");
    require_node_module("jsdom");
    require_node_module("mermaid");
    p.file("graph.mmd", text);
    let script = repo().join("tests/ci-tools/mermaid.js");
    let mut run = p.tool(
        ".",
        "node",
        &[
            script.to_str().unwrap(),
            p.join("graph.mmd").to_str().unwrap(),
        ],
    );
    run.stdout = run.stdout.trim().to_string();
    assert_eq!(
        run.code,
        0,
        "Mermaid rejects the graph\n{text}\n{}",
        run.show()
    );
    serde_json::from_str(&run.stdout).unwrap()
}

/// Graphviz's reading of `text` (`dot -Tjson`), after checking that `dot -Tsvg` draws it without
/// a warning.
fn dot_parse(p: &Project, text: &str) -> Value {
    require(
        "dot",
        "apt-get install graphviz (.ci/run installs it when missing)",
    );
    p.file("graph.dot", text);
    let file = p.join("graph.dot");
    let svg = p.tool(".", "dot", &["-Tsvg", file.to_str().unwrap()]);
    svg.success();
    assert_eq!(svg.stderr, "", "dot warns\n{text}\n{}", svg.show());
    assert!(svg.stdout.contains("<svg"), "{}", svg.show());
    let json = p.tool(".", "dot", &["-Tjson", file.to_str().unwrap()]);
    json.success();
    serde_json::from_str(&json.stdout).unwrap()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Checks Mermaid's reading of a task graph against `want`; returns the node ids by label.
fn check_mermaid_tasks(parsed: &Value, want: &Expected) -> HashMap<String, String> {
    assert_eq!(parsed["type"], "flowchart-v2", "{parsed:#}");
    let nodes = parsed["nodes"].as_array().unwrap();
    let tasks: Vec<&Value> = nodes
        .iter()
        .filter(|n| n["id"].as_str().unwrap().starts_with("task_"))
        .collect();
    let labels: Vec<String> = tasks
        .iter()
        .map(|n| n["label"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(labels, want.names, "{parsed:#}");
    for n in &tasks {
        let label = n["label"].as_str().unwrap().to_string();
        let confirm = want.confirm.contains(&label);
        let shape = if confirm { "hexagon" } else { "square" };
        assert_eq!(n["shape"], shape, "{label}: {parsed:#}");
        assert_eq!(
            strs(&n["classes"]).contains(&"confirm".to_string()),
            confirm,
            "{label}: {parsed:#}"
        );
    }
    let label_of: HashMap<String, String> = nodes
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["label"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(label_of.len(), nodes.len(), "node ids are unique");
    let edges: Vec<(String, String)> = parsed["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from"].as_str().unwrap().starts_with("task_"))
        .map(|e| {
            assert_eq!(e["type"], "arrow_point");
            (
                label_of[e["from"].as_str().unwrap()].clone(),
                label_of[e["to"].as_str().unwrap()].clone(),
            )
        })
        .collect();
    assert_eq!(edges, want.edges, "{parsed:#}");
    label_of
        .into_iter()
        .map(|(id, label)| (label, id))
        .collect()
}

/// A stage's title and its clusters' labels.
type Stage = (String, Vec<String>);

/// The subgraphs Mermaid read, and the edges between subgraphs (by title).
fn mermaid_stages(parsed: &Value) -> (Vec<Stage>, Vec<(String, String)>) {
    let label_of: HashMap<&str, &str> = parsed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["label"].as_str().unwrap()))
        .collect();
    let subgraphs = parsed["subgraphs"].as_array().unwrap();
    let title_of: HashMap<&str, &str> = subgraphs
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["title"].as_str().unwrap()))
        .collect();
    let stages = subgraphs
        .iter()
        .map(|s| {
            let members: Vec<String> = strs(&s["nodes"])
                .iter()
                .map(|id| label_of[id.as_str()].to_string())
                .collect();
            (s["title"].as_str().unwrap().to_string(), members)
        })
        .collect();
    let links = parsed["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let from = title_of.get(e["from"].as_str().unwrap())?;
            let to = title_of.get(e["to"].as_str().unwrap())?;
            Some((from.to_string(), to.to_string()))
        })
        .collect();
    (stages, links)
}

fn live_stages() -> Vec<Stage> {
    vec![
        ("stage dev".into(), vec!["dev".into()]),
        ("stage live".into(), vec!["staging".into(), "prod".into()]),
    ]
}

#[test]
fn the_repositorys_tasks_as_mermaid_parse_in_mermaid_node_for_node() {
    let p = project();
    let run = p.kopsform(&["-C", &repo_dir(), "graph"]);
    run.success();
    assert!(run.stdout.starts_with("flowchart LR\n"), "{}", run.show());
    let parsed = mermaid_parse(&p, &run.stdout);
    let want = expected(&repo().join("tasks.toml"), &[]);
    assert!(want.confirm.contains(&"apply".to_string()));
    assert!(
        want.edges
            .contains(&("cluster-template".into(), "cluster-update".into()))
    );
    check_mermaid_tasks(&parsed, &want);
    // A single [cluster]: no stages to draw.
    assert_eq!(parsed["subgraphs"], serde_json::json!([]));
    // The same graph again, byte for byte; --format mermaid is the default.
    p.kopsform(&["-C", &repo_dir(), "graph", "--format", "mermaid"])
        .success();
    assert_eq!(
        p.kopsform(&["-C", &repo_dir(), "graph", "--format", "mermaid"])
            .stdout,
        run.stdout
    );
    // The tasks that confirm are the ones `kopsform list` marks.
    let list = p.kopsform(&["-C", &repo_dir(), "list"]);
    let marked: Vec<String> = list
        .stdout
        .lines()
        .filter(|l| l.ends_with("[confirm]"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(marked, want.confirm);
}

#[test]
fn the_fleet_draws_its_clusters_by_stage_in_promotion_order() {
    let p = project();
    let run = p.kopsform(&["-C", &fleet_dir(), "graph"]);
    run.success();
    let parsed = mermaid_parse(&p, &run.stdout);
    check_mermaid_tasks(
        &parsed,
        &expected(&repo().join("examples/fleet/tasks.toml"), &[]),
    );
    let (stages, links) = mermaid_stages(&parsed);
    assert_eq!(stages, live_stages(), "{parsed:#}");
    assert_eq!(
        links,
        [("stage dev".to_string(), "stage live".to_string())],
        "{parsed:#}"
    );
    for cluster in ["dev", "staging", "prod"] {
        let node = parsed["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["label"] == cluster)
            .unwrap();
        assert_eq!(node["shape"], "round", "{node}");
    }

    // --stage and --cluster narrow the clusters drawn.
    let live = p.kopsform(&["-C", &fleet_dir(), "--stage", "live", "graph"]);
    live.success();
    let (stages, links) = mermaid_stages(&mermaid_parse(&p, &live.stdout));
    assert_eq!(stages, live_stages()[1..]);
    assert!(links.is_empty());
    let two = p.kopsform(&[
        "-C",
        &fleet_dir(),
        "--cluster",
        "prod",
        "--cluster",
        "dev",
        "graph",
    ]);
    let (stages, _) = mermaid_stages(&mermaid_parse(&p, &two.stdout));
    assert_eq!(
        stages,
        [
            ("stage dev".to_string(), vec!["dev".to_string()]),
            ("stage live".to_string(), vec!["prod".to_string()])
        ]
    );
}

#[test]
fn markdown_wraps_the_same_graph_in_a_mermaid_fence() {
    let p = project();
    let plain = p.kopsform(&["-C", &fleet_dir(), "graph"]);
    let fenced = p.kopsform(&["-C", &fleet_dir(), "graph", "--markdown"]);
    fenced.success();
    assert_eq!(fenced.stdout, format!("```mermaid\n{}```\n", plain.stdout));
    let dot = p.kopsform(&["-C", &fleet_dir(), "graph", "--format", "dot"]);
    let dot_md = p.kopsform(&["-C", &fleet_dir(), "graph", "--format", "dot", "--markdown"]);
    assert_eq!(dot_md.stdout, format!("```dot\n{}```\n", dot.stdout));
}

#[test]
fn named_tasks_draw_only_them_and_their_dependencies() {
    let p = project();
    let tasks_toml = repo().join("tasks.toml");
    for only in [
        vec!["apply"],
        vec!["cluster-update", "plan"],
        vec!["prerequisites-apply"],
    ] {
        let dir = repo_dir();
        let mut args = vec!["-C", dir.as_str(), "graph"];
        args.extend(&only);
        let run = p.kopsform(&args);
        run.success();
        let want = expected(&tasks_toml, &only);
        check_mermaid_tasks(&mermaid_parse(&p, &run.stdout), &want);
        // The same selection in DOT.
        args.extend(["--format", "dot"]);
        let dot = p.kopsform(&args);
        dot.success();
        check_dot_tasks(&dot_parse(&p, &dot.stdout), &want);
    }
    let want = expected(&tasks_toml, &["apply"]);
    assert_eq!(want.names, ["init", "apply"]);
    assert_eq!(want.edges, [("init".to_string(), "apply".to_string())]);
}

/// Checks Graphviz's reading of a task graph against `want`.
fn check_dot_tasks(parsed: &Value, want: &Expected) {
    let objects = parsed["objects"].as_array().unwrap();
    let by_gvid: HashMap<u64, &Value> = objects
        .iter()
        .map(|o| (o["_gvid"].as_u64().unwrap(), o))
        .collect();
    let tasks: Vec<&Value> = objects
        .iter()
        .filter(|o| o["name"].as_str().unwrap().starts_with("task_"))
        .collect();
    // -Tjson keeps a label's escapes as written (`\\` for one backslash); the drawing shows one.
    let label = |o: &Value| o["label"].as_str().unwrap().replace("\\\\", "\\");
    let labels: Vec<String> = tasks.iter().map(|o| label(o)).collect();
    assert_eq!(labels, want.names, "{parsed:#}");
    for o in &tasks {
        let label = label(o);
        let shape = if want.confirm.contains(&label) {
            "hexagon"
        } else {
            "box"
        };
        assert_eq!(
            o.get("shape").and_then(Value::as_str).unwrap_or("box"),
            shape,
            "{label}"
        );
    }
    // Graphviz lists edges by their tail node: compared as sets.
    let mut edges: Vec<(String, String)> = parsed
        .get("edges")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|e| e.get("lhead").is_none())
        .map(|e| {
            let end = |k: &str| label(by_gvid[&e[k].as_u64().unwrap()]);
            (end("tail"), end("head"))
        })
        .collect();
    let mut want_edges = want.edges.clone();
    edges.sort();
    want_edges.sort();
    assert_eq!(edges, want_edges, "{parsed:#}");
}

#[test]
fn dot_output_is_drawn_by_graphviz_with_stage_boxes() {
    let p = project();
    let run = p.kopsform(&["-C", &repo_dir(), "graph", "--format", "dot"]);
    run.success();
    assert!(
        run.stdout.starts_with("digraph kopsform {\n"),
        "{}",
        run.show()
    );
    check_dot_tasks(
        &dot_parse(&p, &run.stdout),
        &expected(&repo().join("tasks.toml"), &[]),
    );

    let fleet = p.kopsform(&["-C", &fleet_dir(), "graph", "--format", "dot"]);
    fleet.success();
    let parsed = dot_parse(&p, &fleet.stdout);
    check_dot_tasks(
        &parsed,
        &expected(&repo().join("examples/fleet/tasks.toml"), &[]),
    );
    let objects = parsed["objects"].as_array().unwrap();
    let label = |gvid: &Value| -> String {
        objects.iter().find(|o| o["_gvid"] == *gvid).unwrap()["label"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Subgraphs named cluster_* are the boxes; Graphviz lists them first.
    let boxes: Vec<Stage> = objects
        .iter()
        .filter(|o| o["name"].as_str().unwrap().starts_with("cluster_stage_"))
        .map(|o| {
            let members = o["nodes"].as_array().unwrap().iter().map(label).collect();
            (o["label"].as_str().unwrap().to_string(), members)
        })
        .collect();
    assert_eq!(boxes, live_stages());
    let stage_edges: Vec<(String, String)> = parsed["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("lhead").is_some())
        .map(|e| {
            (
                e["ltail"].as_str().unwrap().to_string(),
                e["lhead"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stage_edges,
        [(
            "cluster_stage_dev".to_string(),
            "cluster_stage_live".to_string()
        )]
    );
}

#[test]
fn any_task_name_is_safe_in_both_formats() {
    let p = project();
    // Names with the characters Mermaid and DOT read as syntax, Mermaid's keyword `end`, names
    // that start with o/x (Mermaid's circle and cross arrow heads), names that sanitise to the
    // same id, numeric stages.
    p.file(
        "tasks.toml",
        r##"
[clusters.a]
name = "a"
state = "s3://x"
stage = 2
dir = "c/a"

[clusters.end]
name = "e"
state = "s3://x"
stage = 1
dir = "c/end"

[tasks."lint.yaml:strict"]
[tasks.lint-yaml-strict]
deps = ["lint.yaml:strict"]
[tasks.end]
deps = ["lint-yaml-strict"]
[tasks.o]
deps = ["end"]
confirm = "Really?"
[tasks.x]
deps = ["o", "end"]
[tasks.'we"ird <b>#1 & `t` [x] {y} |z|; \n']
deps = ["x"]
confirm = true
"##,
    );
    let want = expected(&p.join("tasks.toml"), &[]);
    assert_eq!(want.names.len(), 6);
    let run = p.kopsform(&["graph"]);
    run.success();
    let parsed = mermaid_parse(&p, &run.stdout);
    let ids = check_mermaid_tasks(&parsed, &want);
    assert_eq!(ids["lint.yaml:strict"], "task_lint_yaml_strict");
    assert_eq!(ids["lint-yaml-strict"], "task_lint_yaml_strict_2");
    let (stages, links) = mermaid_stages(&parsed);
    assert_eq!(
        stages,
        [
            ("stage 1".to_string(), vec!["end".to_string()]),
            ("stage 2".to_string(), vec!["a".to_string()])
        ]
    );
    assert_eq!(links, [("stage 1".to_string(), "stage 2".to_string())]);

    let dot = p.kopsform(&["graph", "--format", "dot"]);
    dot.success();
    check_dot_tasks(&dot_parse(&p, &dot.stdout), &want);
}

#[test]
fn bad_input_is_refused_with_the_usual_statuses() {
    let p = project();
    p.kopsform(&["-C", &repo_dir(), "graph", "aply"])
        .failure(1)
        .stderr_has("unknown task `aply`")
        .stderr_has("did you mean `apply`?");
    p.kopsform(&["-C", &repo_dir(), "graph", "--format", "svg"])
        .failure(64)
        .stderr_has("invalid value 'svg'")
        .stderr_has("[possible values: mermaid, dot]");
    p.kopsform(&["-C", &fleet_dir(), "--cluster", "prdo", "graph"])
        .failure(1)
        .stderr_has("did you mean `prod`?");
    p.kopsform(&["graph"])
        .failure(1)
        .stderr_has("no tasks.toml");
    p.kopsform(&["completions", "tcsh"])
        .failure(64)
        .stderr_has("[possible values: bash, zsh, fish]");
    p.kopsform(&["completions"])
        .failure(64)
        .stderr_has("<SHELL>");
    p.kopsform(&["man", "--out"]).failure(64);
}

#[test]
fn every_new_command_has_examples_in_its_help() {
    let p = project();
    for command in ["graph", "completions", "man"] {
        p.kopsform(&[command, "--help"])
            .success()
            .stdout_has("\nExamples:\n  ");
    }
    p.kopsform(&["--help"])
        .success()
        .stdout_has("kopsform graph --markdown")
        .stdout_has("kopsform completions bash");
}

/// Runs `script` in `shell -c` with the project's environment (kopsform first on PATH).
fn shell(p: &Project, shell: &str, script: &str) -> Run {
    p.tool(".", shell, &["-c", script])
}

/// Whether `shell` is installed; the zsh and fish checks are skipped (and say so) without it.
fn have(shell: &str) -> bool {
    let found = std::process::Command::new(shell)
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("{shell} is not installed: its completion checks are skipped");
    }
    found
}

/// Completes `words` (the last one being typed) with the bash function `function`.
const BASH_COMPLETE: &str = r#"
t() {
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  "$FUNCTION" kopsform "${@: -1}" "${@: -2:1}"
  printf '%s\n' "${COMPREPLY[@]}" | sed 's/ *$//'
  echo --
}
"#;

fn bash_completions(
    p: &Project,
    load: &str,
    function: &str,
    lines: &[&[&str]],
) -> Vec<Vec<String>> {
    let mut script = format!("set -e\n{load}\nFUNCTION={function}\n{BASH_COMPLETE}");
    for words in lines {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        script.push_str(&format!("t {}\n", quoted.join(" ")));
    }
    let run = shell(p, "bash", &script);
    run.success();
    run.stdout
        .split("--\n")
        .take(lines.len())
        .map(|block| {
            block
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

#[test]
fn the_bash_script_loads_and_completes_subcommands_and_values() {
    require("bash", "bash is needed");
    let p = project();
    let script = p.kopsform(&["completions", "bash"]);
    script.success();
    assert!(script.stdout.contains("graph"));
    shell(
        &p,
        "bash",
        "source <(kopsform completions bash) && complete -p kopsform",
    )
    .success()
    .stdout_has("-F _kopsform")
    .stdout_has(" kopsform\n");
    let got = bash_completions(
        &p,
        "source <(kopsform completions bash)",
        "_kopsform",
        &[
            &["kopsform", "gr"],
            &["kopsform", "completions", ""],
            &["kopsform", "graph", "--format", ""],
            &["kopsform", "man", "--o"],
        ],
    );
    assert_eq!(got[0], ["graph"]);
    assert!(
        got[1].ends_with(&["bash".into(), "zsh".into(), "fish".into()]),
        "{got:?}"
    );
    assert_eq!(got[2], ["mermaid", "dot"]);
    assert_eq!(got[3], ["--out"]);
}

#[test]
fn the_dynamic_bash_script_completes_task_names_clusters_and_stages() {
    require("bash", "bash is needed");
    let p = project();
    p.copy_from_repo("tasks.toml", "tasks.toml");
    let load = "source <(kopsform completions --dynamic bash)";
    shell(&p, "bash", &format!("{load} && complete -p kopsform"))
        .success()
        .stdout_has("-F _clap_complete_kopsform kopsform");
    let fleet = fleet_dir();
    let got = bash_completions(
        &p,
        load,
        "_clap_complete_kopsform",
        &[
            &["kopsform", "cluster-u"],
            &["kopsform", "plan", "ap"],
            &["kopsform", "run", "prerequisites-"],
            &["kopsform", "graph", "dr"],
            &["kopsform", "gr"],
            &["kopsform", "-C", &fleet, "--cluster", ""],
            &["kopsform", "-C", &fleet, "--stage", ""],
            &["kopsform", "graph", "--format", ""],
        ],
    );
    assert_eq!(got[0], ["cluster-update"]);
    assert_eq!(got[1], ["apply"]);
    assert_eq!(
        got[2],
        [
            "prerequisites-plan",
            "prerequisites-apply",
            "prerequisites-destroy"
        ]
    );
    assert_eq!(got[3], ["dryrun"]);
    assert_eq!(got[4], ["graph"]);
    assert_eq!(got[5], ["dev", "staging", "prod"]);
    assert_eq!(got[6], ["dev", "live"]);
    assert_eq!(got[7], ["mermaid", "dot"]);
    // Only a shell's name in COMPLETE asks for completions: anything else is an ordinary run.
    let mut p = p;
    p.env("COMPLETE", "1");
    p.kopsform(&["list"]).success().stdout_has("cluster-update");
    // Outside a project there is nothing to offer, and nothing fails.
    let empty = project();
    let got = bash_completions(
        &empty,
        load,
        "_clap_complete_kopsform",
        &[&["kopsform", "cluster-u"]],
    );
    assert!(got[0].is_empty(), "{got:?}");
}

#[test]
fn zsh_and_fish_scripts_are_valid_and_name_the_subcommands() {
    let p = project();
    for sh in ["zsh", "fish"] {
        for dynamic in [false, true] {
            let mut args = vec!["completions", sh];
            if dynamic {
                args.push("--dynamic");
            }
            let run = p.kopsform(&args);
            run.success();
            if !dynamic {
                for sub in ["run", "list", "graph", "completions", "man", "ci", "gitlab"] {
                    assert!(run.stdout.contains(sub), "{sh} script lacks {sub}");
                }
            } else {
                assert!(run.stdout.contains("COMPLETE="), "{}", run.stdout);
            }
            if have(sh) {
                let file = format!("kopsform.{sh}");
                p.file(&file, &run.stdout);
                p.tool(".", sh, &["-n", p.join(&file).to_str().unwrap()])
                    .success();
            }
        }
    }
    if have("fish") {
        // fish completes a command line for real with `complete -C`.
        p.copy_from_repo("tasks.toml", "tasks.toml");
        let run = shell(
            &p,
            "fish",
            "kopsform completions fish | source; complete -C 'kopsform gr'; complete -C 'kopsform graph --format '",
        );
        run.success();
        assert!(run.stdout.starts_with("graph\t"), "{}", run.show());
        assert!(run.stdout.contains("\nmermaid\t"), "{}", run.show());
        let run = shell(
            &p,
            "fish",
            "kopsform completions --dynamic fish | source; complete -C 'kopsform plan ap'; complete -C 'kopsform cluster-up'",
        );
        run.success();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{}", run.show());
        assert!(lines[0].starts_with("apply\t"), "{}", run.show());
        assert!(
            lines[1].starts_with("cluster-update\tPut cluster.yml"),
            "{}",
            run.show()
        );
    }
}

/// The subcommands `kopsform --help` lists, as man page file names.
fn pages_from_help(p: &Project) -> Vec<String> {
    let help = p.kopsform(&["--help"]);
    help.success();
    let mut pages = vec!["kopsform.1".to_string()];
    let mut in_commands = false;
    for line in help.stdout.lines() {
        if line == "Commands:" {
            in_commands = true;
        } else if in_commands && !line.starts_with("  ") {
            break;
        } else if in_commands && !line.starts_with("   ") {
            // A command's line (a wrapped description is indented further).
            let name = line.split_whitespace().next().unwrap();
            if name != "help" {
                pages.push(format!("kopsform-{name}.1"));
            }
        }
    }
    pages
}

/// groff reads the page without a warning (-ww) and man formats it.
fn check_roff(p: &Project, file: &Path, must_have: &str) {
    let groff = p.tool(
        ".",
        "groff",
        &["-man", "-Tutf8", "-ww", "-z", file.to_str().unwrap()],
    );
    groff.success();
    assert_eq!(groff.stderr, "", "{}: {}", file.display(), groff.show());
    let mut man = p.tool(".", "man", &["-l", file.to_str().unwrap()]);
    man.stdout = man.stdout.replace("\u{2010}", "-");
    man.success().stdout_has(must_have);
}

#[test]
fn man_prints_kopsform_1_and_writes_every_page_atomically() {
    require("groff", "apt-get install groff-base");
    require("man", "apt-get install man-db");
    let p = project();
    let page = p.kopsform(&["man"]);
    page.success();
    assert!(
        page.stdout.contains("\n.TH KOPSFORM 1 "),
        "{}",
        &page.stdout[..200]
    );
    p.file("kopsform.1", &page.stdout);
    check_roff(&p, &p.join("kopsform.1"), "kopsform-graph(1)");

    // --out: one page per command; an existing page is replaced by a new file (a hard link to
    // the old one keeps the old text), and no temporary file is left.
    p.file("man/kopsform.1", "old page\n");
    std::fs::hard_link(p.join("man/kopsform.1"), p.join("old-link")).unwrap();
    p.kopsform(&["man", "--out", "man"])
        .success()
        .stderr_has("man pages to");
    assert_eq!(p.read("old-link"), "old page\n");
    let mut written: Vec<String> = std::fs::read_dir(p.join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    for want in pages_from_help(&p)
        .iter()
        .chain(&["kopsform-ci-gitlab.1".to_string()])
    {
        assert!(written.contains(want), "{want} missing from {written:?}");
    }
    assert!(
        written
            .iter()
            .all(|f| f.starts_with("kopsform") && f.ends_with(".1")),
        "{written:?}"
    );
    assert_eq!(p.read("man/kopsform.1"), page.stdout);
    check_roff(&p, &p.join("man/kopsform-graph.1"), "--markdown");
    for f in &written {
        let groff = p.tool(
            ".",
            "groff",
            &[
                "-man",
                "-Tutf8",
                "-ww",
                "-z",
                p.join("man").join(f).to_str().unwrap(),
            ],
        );
        groff.success();
        assert_eq!(groff.stderr, "", "{f}: {}", groff.show());
    }
}

#[test]
fn the_graphs_in_docs_graph_md_are_current() {
    let p = project();
    let doc = std::fs::read_to_string(repo().join("docs/graph.md")).unwrap();
    for (shown, dir, args) in [
        (".", repo_dir(), vec!["graph", "--markdown"]),
        (
            "examples/fleet",
            fleet_dir(),
            vec!["graph", "--markdown", "plan", "apply"],
        ),
    ] {
        let mut all = vec!["-C", dir.as_str()];
        all.extend(&args);
        let run = p.kopsform(&all);
        run.success();
        assert!(
            doc.contains(&run.stdout),
            "docs/graph.md is stale: paste the output of `cargo run -- -C {shown} {}` into it\n{}",
            args.join(" "),
            run.stdout
        );
    }
}
