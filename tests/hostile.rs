//! Hostile values: no value, whatever its source, changes the structure of a rendered YAML file.
//!
//! Each value of the corpus reaches a template through a Terraform output (real Terraform), a
//! values file, `--set` and the environment, into a double-quoted slot and an unquoted one. Every
//! run either writes a file whose only field is exactly the value (read back by a YAML 1.2 parser
//! and by PyYAML, a YAML 1.1 parser like kops's), or exits 1 naming the structure change (or the
//! list/map in a slot) and writes nothing. Never a changed structure, never a panic.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{Project, require, require_terraform};

/// The corpus: at least 40 values that break naive templating.
fn corpus() -> Vec<Value> {
    let mut v = vec![
        json!("plain"),
        json!("a\nb: c"),
        json!("x\"\n  evil: 1"),
        json!("1.30\"\nadditionalPolicies:\n  node: '[{\"Action\": \"*\"}]'"),
        json!("---\nkind: InstanceGroup"),
        json!("#comment"),
        json!("a #b"),
        json!("&anchor"),
        json!("*alias"),
        json!("|"),
        json!(">"),
        json!("yes"),
        json!("no"),
        json!("on"),
        json!("null"),
        json!("~"),
        json!("0x1F"),
        json!("010"),
        json!("1_000"),
        json!("12:30"),
        json!("2001-12-14"),
        json!("true"),
        json!("3"),
        json!("1.5"),
        json!("a\tb"),
        json!("a\u{2028}b: c"),
        json!("a\u{85}b"),
        json!("-x"),
        json!("- x"),
        json!("[x]"),
        json!("{x}"),
        json!("*"),
        json!("!x"),
        json!("!!str x"),
        json!("%x"),
        json!("@x"),
        json!("`x"),
        json!("a: b"),
        json!("key:"),
        json!("<<"),
        json!("'"),
        json!("\""),
        json!("\\"),
        json!("\\n"),
        json!("\r\nx: 1"),
        json!("\u{feff}x"),
        json!(" leading"),
        json!("trailing "),
        json!("ünïcödé ✓"),
        json!("{{cluster.name}}"),
        json!("'x'"),
        json!(""),
        json!(3),
        json!(1.5),
        json!(true),
        json!(["a", "b"]),
        json!({"a": 1}),
    ];
    v.push(Value::String("a".repeat(1 << 20)));
    v.push(Value::String(format!("{}\nx: 1", "b".repeat(1 << 20))));
    v
}

/// What `--set KEY=RAW` makes of RAW (docs/tasks-toml.md: a YAML scalar or flow collection).
fn set_value(raw: &str) -> Value {
    if raw.is_empty() {
        return json!("");
    }
    match serde_yaml::from_str::<Value>(raw) {
        Ok(Value::Null) if raw != "null" && raw != "~" => json!(raw),
        Ok(Value::Object(_)) if !raw.trim_start().starts_with('{') => json!(raw),
        Ok(v) => v,
        Err(_) => json!(raw),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[derive(Debug)]
struct Case {
    /// 0: the project with the outputs, 1: the one with the values file.
    project: usize,
    task: String,
    /// What the slot must hold when the render succeeds.
    want: Value,
    env: Option<(String, String)>,
    set: Option<String>,
}

#[test]
fn no_value_from_any_source_changes_the_structure_of_a_render() {
    require_terraform();
    require("python3", "python3 with PyYAML (.ci/run installs it)");
    let values = corpus();
    assert!(values.len() >= 40, "{}", values.len());
    // The outputs come from real Terraform; the other sources from a project whose `terraform
    // output -json` prints no outputs at once (the run reads the outputs whatever the source).
    let p = Project::new();
    let q = Project::new();
    q.file("1-prerequisites/.keep", "");
    q.script("fake-terraform", "#!/bin/sh\necho '{}'\n");

    // The values as Terraform outputs, applied for real (nulls are left out by Terraform).
    let mut outputs = serde_json::Map::new();
    let mut values_file = serde_json::Map::new();
    for (i, v) in values.iter().enumerate() {
        outputs.insert(format!("o{i}"), json!({"sensitive": false, "value": v}));
        values_file.insert(format!("f{i}"), v.clone());
    }
    p.layer_from_recorded_outputs(
        "1-prerequisites",
        &serde_json::to_string(&Value::Object(outputs)).unwrap(),
    );
    let file_text = serde_json::to_string(&Value::Object(values_file)).unwrap();
    q.file("values.yaml", &file_text);
    // What a values file holds is what YAML reads in it (a raw NEL in a JSON string folds).
    let from_file: serde_yaml::Value = serde_yaml::from_str(&file_text).unwrap();
    let from_file = serde_json::to_value(from_file).unwrap();

    let cluster = "[cluster]\nname = \"c.example.com\"\nstate = \"s3://bucket\"\n";
    let mut tasks = [
        cluster.to_string(),
        format!("[tools]\nterraform = \"./fake-terraform\"\n{cluster}values = [\"values.yaml\"]\n"),
    ];
    let mut cases = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let sources = [
            ("o", format!("o{i}"), v.clone(), None, None),
            (
                "f",
                format!("f{i}"),
                from_file[format!("f{i}")].clone(),
                None,
                None,
            ),
            (
                "e",
                format!("env.KF_HOSTILE_{i}"),
                json!(text(v)),
                Some((format!("KF_HOSTILE_{i}"), text(v))),
                None,
            ),
            (
                "s",
                format!("s{i}"),
                set_value(&text(v)),
                None,
                Some(format!("s{i}={}", text(v))),
            ),
        ];
        for (source, name, value, env, set) in sources {
            // The kernel refuses an argument or variable over 128 KiB; lists and maps have no
            // `--set` or environment text.
            let big = text(v).len() > 100_000;
            if matches!(source, "s" | "e") && (big || v.is_array() || v.is_object()) {
                continue;
            }
            for (slot, line) in [
                ("q", format!("field: \"{{{{{name}}}}}\"\n")),
                ("p", format!("field: {{{{{name}}}}}\n")),
            ] {
                let task = format!("{source}-{slot}-{i}");
                let project = usize::from(source != "o");
                [&p, &q][project].file(
                    &format!("t/{task}.tmpl"),
                    &format!("before: 1\n{line}after: 2\n"),
                );
                tasks[project].push_str(&format!(
                    "[tasks.{task}]\nsteps = [{{ render = \"t/{task}.tmpl\", out = \"out/{task}.yml\", check = \"none\" }}]\n"
                ));
                // A quoted slot holds the text; an unquoted one the value itself.
                let want = if slot == "q" {
                    json!(text(&value))
                } else {
                    value.clone()
                };
                cases.push(Case {
                    project,
                    task,
                    want,
                    env: env.clone(),
                    set: set.clone(),
                });
            }
        }
    }
    p.file("tasks.toml", &tasks[0]);
    q.file("tasks.toml", &tasks[1]);

    let run = |case: &Case| {
        let mut cmd = [&p, &q][case.project].command(&[]);
        if let Some(set) = &case.set {
            cmd.arg("--set").arg(set);
        }
        cmd.arg(&case.task);
        if let Some((k, v)) = &case.env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // Four at a time: each run waits mostly on `terraform output`.
    let outputs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let chunks: Vec<_> = cases
            .chunks(cases.len().div_ceil(4))
            .map(|chunk| scope.spawn(|| chunk.iter().map(run).collect::<Vec<_>>()))
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut written = BTreeMap::new();
    let (mut accepted, mut refused) = (0, 0);
    for (case, out) in cases.iter().zip(outputs) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let path = [&p, &q][case.project].join(&format!("out/{}.yml", case.task));
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.task);
        if out.status.success() {
            accepted += 1;
            let file = std::fs::read_to_string(&path).unwrap();
            let back: serde_yaml::Value = serde_yaml::from_str(&file)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}\n{file}", case.task));
            let back = serde_json::to_value(back).unwrap();
            assert_eq!(
                back,
                json!({"before": 1, "field": case.want, "after": 2}),
                "{}: the structure or the value changed:\n{file}",
                case.task
            );
            written.insert(case.task.clone(), case.want.clone());
        } else {
            refused += 1;
            assert_eq!(out.status.code(), Some(1), "{}: {stderr}", case.task);
            let named = [
                "would change the YAML structure",
                "is a list",
                "is a map",
                "missing value", // a null output: Terraform leaves it out
            ];
            assert!(
                named.iter().any(|n| stderr.contains(n)),
                "{}: refused without saying why: {stderr}",
                case.task
            );
            assert!(
                !path.exists(),
                "{}: a refused render wrote its file",
                case.task
            );
        }
    }
    assert!(
        accepted > 100 && refused > 100,
        "accepted {accepted}, refused {refused}"
    );

    // kops reads YAML 1.1: PyYAML must read every written file as the same value.
    let script = r#"
import json, sys, yaml, os
out = {}
for folder in sys.argv[1:]:
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            try:
                out[name[:-4]] = yaml.safe_load(f)["field"]
            except Exception as e:
                out[name[:-4]] = {"PyYAML cannot read it": str(e)}
json.dump(out, sys.stdout)
"#;
    let py = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(p.join("out"))
        .arg(q.join("out"))
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let read: BTreeMap<String, Value> = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(read.len(), written.len());
    for (task, want) in &written {
        let got = &read[task];
        let same = got == want || (got.as_f64().is_some() && got.as_f64() == want.as_f64());
        assert!(same, "{task}: YAML 1.1 reads {got}, not {want}");
    }
}

#[test]
fn a_changed_environment_variable_the_template_reads_makes_the_render_run_again() {
    let p = Project::new();
    p.file("1-prerequisites/.keep", "");
    p.script("fake-terraform", "#!/bin/sh\necho '{}'\n");
    p.file(
        "tasks.toml",
        "[tools]\nterraform = \"./fake-terraform\"\n[tasks.render]\nsources = [\"t.tmpl\"]\nsteps = [{ render = \"t.tmpl\", out = \"out.yml\", check = \"none\" }]\n",
    );
    p.file("t.tmpl", "team: \"{{env.KF_TEAM}}\"\n");
    let run = |team: &str| {
        let out = p
            .command(&["render"])
            .env("KF_TEAM", team)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run("blue").contains("rendered t.tmpl -> out.yml"));
    assert!(run("blue").contains("up to date"));
    assert!(run("green").contains("rendered t.tmpl -> out.yml"));
    assert_eq!(p.read("out.yml"), "team: \"green\"\n");
}
