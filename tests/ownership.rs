//! No step deletes or writes outside what is its own (issue 16): `copy`, `remove`,
//! `snapshot-state`, `provider-override`, a render's `out`, `review` and a command's `save =` refuse
//! a target that is the project folder, their source, inside their source (or holding it), outside
//! the project (absolute, `..`), or reached through a symbolic link that leads out of it. Each case
//! is refused with a message naming the step, the path and why, exit 1, and nothing deleted or
//! written: every file and folder of the project and of a sibling folder outside it is hashed
//! before and after the run. Cluster names from Terraform outputs are checked against kops's rule
//! before they form a path; the audit trail and values files do not follow links out of the
//! project.

use crate::support::{Project, Sibling, require_terraform, snapshot_both};

/// A project with a cluster (local state store), a Terraform folder with a subfolder and a
/// template: what the copy and render cases would destroy.
fn project(steps: &str) -> Project {
    let p = Project::new();
    p.file(
        "tasks.toml",
        &format!(
            "[cluster]\nname = \"c.example.com\"\nstate = \".kops-state\"\n\n[tasks.t]\nsteps = [\n  {steps},\n]\n"
        ),
    );
    p.file("2-kops/main.tf", "# the cluster's Terraform\n");
    p.file("2-kops/sub/x.tf", "# deeper\n");
    p.file("2-kops/cluster-template.yml", "kind: Cluster\n");
    p.file("2-kops/p.tfplan", "a saved plan\n");
    p
}

/// One refused case: the step, links to make first (name in the project -> target; `{sibling}`
/// is the sibling folder), and what stderr must say.
struct Case {
    name: &'static str,
    step: &'static str,
    links: &'static [(&'static str, &'static str)],
    want: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "copy out = the project",
            step: r#"{ builtin = "copy", from = "2-kops", out = "." }"#,
            links: &[],
            want: r#"the `copy` step's out = "." is the project folder itself"#,
        },
        Case {
            name: "copy out = from",
            step: r#"{ builtin = "copy", from = "2-kops", out = "2-kops/" }"#,
            links: &[],
            want: r#"the `copy` step's out = "2-kops/" is the step's `from` itself"#,
        },
        Case {
            name: "copy out inside from",
            step: r#"{ builtin = "copy", from = "2-kops", out = "2-kops/copy" }"#,
            links: &[],
            want: r#"the `copy` step's out = "2-kops/copy" is inside the step's `from` (2-kops)"#,
        },
        Case {
            name: "copy from inside out",
            step: r#"{ builtin = "copy", from = "2-kops/sub", out = "2-kops" }"#,
            links: &[],
            want: r#"the `copy` step's out = "2-kops" holds the step's `from` (2-kops/sub)"#,
        },
        Case {
            name: "copy out outside the project",
            step: r#"{ builtin = "copy", from = "2-kops", out = "../{sibling}/keep" }"#,
            links: &[],
            want: r#"the `copy` step's out = "../{sibling}/keep" leaves the project folder with `..`"#,
        },
        Case {
            name: "copy out absolute",
            step: r#"{ builtin = "copy", from = "2-kops", out = "{sibling_path}/keep" }"#,
            links: &[],
            want: r#"the `copy` step's out = "{sibling_path}/keep" is an absolute path, outside the project folder"#,
        },
        Case {
            name: "copy from outside the project",
            step: r#"{ builtin = "copy", from = "../{sibling}/keep", out = ".kopsform/copy" }"#,
            links: &[],
            want: r#"the `copy` step's from = "../{sibling}/keep" leaves the project folder with `..`"#,
        },
        Case {
            name: "copy out through a link leaving the project",
            step: r#"{ builtin = "copy", from = "2-kops", out = "away/keep" }"#,
            links: &[("away", "{sibling}")],
            want: "the `copy` step's out = \"away/keep\" is reached through the symbolic link `away`, which leads outside the project folder (to {sibling_real})",
        },
        Case {
            name: "copy out = from, rendered",
            step: r#"{ builtin = "copy", from = "{{cluster.dir}}", out = "{{cluster.dir}}" }"#,
            links: &[],
            want: r#"the `copy` step's out = "2-kops" is the step's `from` itself"#,
        },
        Case {
            name: "copy out leaving with .., rendered",
            step: r#"{ builtin = "copy", from = "2-kops", out = "{{cluster.dir}}/../../{sibling}" }"#,
            links: &[],
            want: r#"the `copy` step's out = "2-kops/../../{sibling}" leaves the project folder with `..`"#,
        },
        Case {
            name: "copy out = from through a link inside the project",
            step: r#"{ builtin = "copy", from = "2-kops", out = "alias" }"#,
            links: &[("alias", "2-kops")],
            want: r#"the `copy` step's out = "alias" is the step's `from` itself, through a symbolic link"#,
        },
        Case {
            name: "remove the project",
            step: r#"{ builtin = "remove", paths = ["2-kops/.."] }"#,
            links: &[],
            want: r#"the `remove` step's paths = "2-kops/.." is the project folder itself"#,
        },
        Case {
            name: "remove outside the project",
            step: r#"{ builtin = "remove", paths = ["../{sibling}"] }"#,
            links: &[],
            want: r#"the `remove` step's paths = "../{sibling}" leaves the project folder with `..`"#,
        },
        Case {
            name: "remove absolute",
            step: r#"{ builtin = "remove", paths = ["{sibling_path}/victim.txt"] }"#,
            links: &[],
            want: r#"the `remove` step's paths = "{sibling_path}/victim.txt" is an absolute path"#,
        },
        Case {
            name: "remove through a link",
            step: r#"{ builtin = "remove", paths = ["away/keep"] }"#,
            links: &[("away", "{sibling}")],
            want: "the `remove` step's paths = \"away/keep\" is reached through the symbolic link `away`",
        },
        Case {
            name: "snapshot-state outside .kopsform",
            step: r#"{ builtin = "snapshot-state", out = "2-kops" }"#,
            links: &[],
            want: r#"the `snapshot-state` step's out = "2-kops" is outside .kopsform/, and this step empties its target: keep it under .kopsform/"#,
        },
        Case {
            name: "snapshot-state through .kopsform linked away",
            step: r#"{ builtin = "snapshot-state", out = "{{cluster.work}}/dryrun/state" }"#,
            links: &[(".kopsform", "{sibling}")],
            want: "the `snapshot-state` step's out = \".kopsform/dryrun/state\" is reached through the symbolic link `.kopsform`, which leads outside the project folder",
        },
        Case {
            name: "render over its template",
            step: r#"{ render = "2-kops/cluster-template.yml", out = "2-kops/./cluster-template.yml" }"#,
            links: &[],
            want: r#"the `render` step's out = "2-kops/./cluster-template.yml" is the step's `render` itself"#,
        },
        Case {
            name: "render out through a link",
            step: r#"{ render = "2-kops/cluster-template.yml", out = "away/victim.txt" }"#,
            links: &[("away", "{sibling}")],
            want: "the `render` step's out = \"away/victim.txt\" is reached through the symbolic link `away`",
        },
        Case {
            name: "save outside the project",
            step: r#"{ run = ["touch", "ran"], save = "../{sibling}/victim.txt" }"#,
            links: &[],
            want: r#"the `run` step's save = "../{sibling}/victim.txt" leaves the project folder"#,
        },
        Case {
            name: "save through a link, rendered",
            step: r#"{ run = ["touch", "ran"], save = "{{cluster.work}}/victim.txt" }"#,
            links: &[(".kopsform", "{sibling}")],
            want: "the `run` step's save = \".kopsform/victim.txt\" is reached through the symbolic link `.kopsform`",
        },
        Case {
            name: "provider-override through a link",
            step: r#"{ builtin = "provider-override", out = "away/victim.txt" }"#,
            links: &[("away", "{sibling}")],
            want: "the `provider-override` step's out = \"away/victim.txt\" is reached through the symbolic link `away`",
        },
        Case {
            name: "review out absolute",
            step: r#"{ builtin = "review", plan = "2-kops/p.tfplan", out = "{sibling_path}/victim.txt" }"#,
            links: &[],
            want: r#"the `review` step's out = "{sibling_path}/victim.txt" is an absolute path"#,
        },
    ]
}

#[test]
fn every_step_refuses_a_target_that_is_not_its_own_and_touches_nothing() {
    let mut problems = Vec::new();
    for case in cases() {
        let sibling = Sibling::new();
        let fill = |text: &str| {
            text.replace("{sibling_path}", &sibling.path().display().to_string())
                .replace(
                    "{sibling_real}",
                    &sibling.path().canonicalize().unwrap().display().to_string(),
                )
                .replace("{sibling}", &sibling.name())
        };
        let p = project(&fill(case.step));
        for (link, to) in case.links {
            let to = fill(to);
            let to = if to == sibling.name() {
                sibling.path().to_path_buf()
            } else {
                std::path::PathBuf::from(to)
            };
            std::os::unix::fs::symlink(&to, p.join(link)).unwrap();
        }
        let before = snapshot_both(&p, &sibling);
        let run = p.kopsform(&["--yes", "t"]);
        let after = snapshot_both(&p, &sibling);
        let want = fill(case.want);
        let mut wrong = Vec::new();
        if run.code != 1 {
            wrong.push(format!("exit {}", run.code));
        }
        for text in [
            want.as_str(),
            "; nothing was deleted or written: give the step a path of its own inside the project",
        ] {
            if !run.stderr.contains(text) {
                wrong.push(format!("stderr lacks {text:?}"));
            }
        }
        if before.0 != after.0 {
            wrong.push(format!(
                "the project changed:\n{:?}\n{:?}",
                before.0, after.0
            ));
        }
        if before.1 != after.1 {
            wrong.push(format!(
                "the sibling folder changed:\n{:?}\n{:?}",
                before.1, after.1
            ));
        }
        if !wrong.is_empty() {
            problems.push(format!(
                "{}: {}\n{}",
                case.name,
                wrong.join("; "),
                run.show()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn a_refused_target_is_named_in_one_line_with_the_file_to_fix() {
    // Written out in tasks.toml: refused when the file is read, before any task.
    let p = project(r#"{ builtin = "copy", from = "2-kops", out = "." }"#);
    let run = p.kopsform(&["--yes", "t"]);
    run.failure(1);
    assert_eq!(
        run.stderr,
        format!(
            "kopsform: error: {}/tasks.toml: task `t`: the `copy` step's out = \".\" is the project folder itself; nothing was deleted or written: give the step a path of its own inside the project\n",
            p.path().display()
        )
    );
    // Rendered: refused right before the step, in its task.
    let p = project(r#"{ builtin = "copy", from = "{{cluster.dir}}", out = "{{cluster.dir}}" }"#);
    let run = p.kopsform(&["--yes", "t"]);
    run.failure(1).stderr_has(&format!(
        "kopsform: error: task `t`: the `copy` step's out = \"2-kops\" is the step's `from` itself; nothing was deleted or written: give the step a path of its own inside the project (in {}/tasks.toml)\n",
        p.path().display()
    ));
    assert!(p.exists("2-kops/main.tf") && p.exists("2-kops/sub/x.tf"));
}

#[test]
fn copy_and_remove_still_work_on_paths_of_their_own() {
    let p = project(
        r#"{ builtin = "copy", from = "{{cluster.dir}}", out = "{{cluster.work}}/dryrun/2-kops" },
  { builtin = "remove", paths = ["{{cluster.work}}/dryrun/2-kops/main.tf"] }"#,
    );
    p.kopsform(&["--yes", "t"])
        .success()
        .stderr_has("[t] copied 2-kops to .kopsform/dryrun/2-kops (without generated files)")
        .stderr_has("[t] removed .kopsform/dryrun/2-kops/main.tf");
    assert_eq!(p.read(".kopsform/dryrun/2-kops/sub/x.tf"), "# deeper\n");
    assert!(!p.exists(".kopsform/dryrun/2-kops/main.tf"));
    assert!(!p.exists(".kopsform/dryrun/2-kops/p.tfplan"));
    assert_eq!(p.read("2-kops/main.tf"), "# the cluster's Terraform\n");
}

/// A project whose prerequisites layer says the cluster's name is `name` (a real Terraform
/// output), with a local state store and a task that takes the cluster's lock.
fn project_named(name: &str) -> Project {
    require_terraform();
    let p = Project::new();
    let outputs = serde_json::json!({
        "cluster_name": {"sensitive": false, "type": "string", "value": name},
    });
    p.layer_from_recorded_outputs("1-prerequisites", &outputs.to_string());
    p.file(
        "tasks.toml",
        "[cluster]\nname = \"{{cluster_name}}\"\nstate = \".kops-state\"\n\n[tasks.change]\nlock = true\nsteps = [[\"touch\", \"changed\"]]\n",
    );
    p
}

#[test]
fn a_cluster_name_kops_would_refuse_never_forms_a_path() {
    let sibling = Sibling::new();
    let victim = sibling.path().join("victim.txt");
    let long = vec!["a".repeat(60); 5].join(".");
    let cases = [
        (victim.display().to_string(), "it holds `/`".to_string()),
        (
            format!("../{}/victim", sibling.name()),
            "it holds `/`".to_string(),
        ),
        ("Prod.example.com".to_string(), "it holds `P`".to_string()),
        ("a/b".to_string(), "it holds `/`".to_string()),
        (
            "..".to_string(),
            "it has an empty label (a leading, trailing or double `.`)".to_string(),
        ),
        (
            long.clone(),
            "it is 304 characters long, and kops allows 253".to_string(),
        ),
    ];
    // One layer, its output changed per case: `--set` overlays the same value the output gives.
    let p = project_named("ok.example.com");
    for (name, why) in cases {
        let before = snapshot_both(&p, &sibling);
        let set = format!("cluster_name={name}");
        let run = p.kopsform(&["--yes", "--set", &set, "change"]);
        let after = snapshot_both(&p, &sibling);
        run.failure(1).stderr_has(&format!(
            "{}/tasks.toml [cluster] name renders `{}",
            p.path().display(),
            &name[..name.len().min(80)]
        ));
        run.stderr_has(&format!("which is not a kops cluster name: {why}; a cluster name is a DNS name such as `dev.example.com`"));
        assert!(!p.exists("changed"), "{name}: the task ran");
        assert!(!p.exists(".kops-state"), "{name}: a lock was made");
        assert_eq!(before, after, "{name}");
    }
    // Straight from the Terraform output: an absolute name would have truncated the victim.
    let p = project_named(&victim.display().to_string());
    let before = snapshot_both(&p, &sibling);
    p.kopsform(&["--yes", "change"])
        .failure(1)
        .stderr_has("which is not a kops cluster name: it holds `/`");
    assert_eq!(before, snapshot_both(&p, &sibling));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "do not truncate\n"
    );
}

#[test]
fn the_audit_trail_does_not_follow_a_link_out_of_the_project() {
    for link in [".kopsform", ".kopsform/audit.jsonl"] {
        let p = Project::new();
        let sibling = Sibling::new();
        p.file("tasks.toml", "[tasks.hi]\nsteps = [[\"true\"]]\n");
        let to = if link == ".kopsform" {
            sibling.path().to_path_buf()
        } else {
            std::fs::create_dir_all(p.join(".kopsform")).unwrap();
            sibling.path().join("victim.txt")
        };
        std::os::unix::fs::symlink(&to, p.join(link)).unwrap();
        let before = crate::support::tree_hashes(sibling.path());
        p.kopsform(&["hi"]).success().stderr_has(&format!(
            "kopsform: warning: not appending to the audit trail .kopsform/audit.jsonl: it is reached through the symbolic link `{link}`, which leads outside the project folder (to {}); remove the link, or set [audit] path",
            to.canonicalize().unwrap().display()
        ));
        assert_eq!(
            before,
            crate::support::tree_hashes(sibling.path()),
            "{link}"
        );
    }
}

#[test]
fn up_to_date_records_are_not_written_through_a_link_out_of_the_project() {
    let p = Project::new();
    let sibling = Sibling::new();
    p.file(
        "tasks.toml",
        "[tools]\nterraform = \"./fake-terraform\"\n[tasks.hi]\nsources = [\"a.txt\"]\nsteps = [[\"true\"]]\n",
    );
    p.file("a.txt", "a");
    p.file("1-prerequisites/.keep", "");
    p.script("fake-terraform", "#!/bin/sh\necho '{}'\n");
    std::fs::create_dir_all(p.join(".kopsform")).unwrap();
    std::os::unix::fs::symlink(sibling.path(), p.join(".kopsform/up-to-date")).unwrap();
    let before = crate::support::tree_hashes(sibling.path());
    p.kopsform(&["hi"]).success().stderr_has(&format!(
        "warning: the up-to-date record .kopsform/up-to-date/hi.json is reached through the symbolic link `.kopsform/up-to-date`, which leads outside the project folder (to {}); not written, so the task will run again next time",
        sibling.path().canonicalize().unwrap().display()
    ));
    assert_eq!(before, crate::support::tree_hashes(sibling.path()));
}

#[test]
fn a_values_file_linked_from_outside_the_project_is_refused() {
    require_terraform();
    let p = Project::new();
    let sibling = Sibling::new();
    std::fs::write(sibling.path().join("values.yaml"), "secret: from outside\n").unwrap();
    p.layer_from_recorded_outputs(
        "1-prerequisites",
        r#"{"cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"}}"#,
    );
    p.file(
        "tasks.toml",
        "[cluster]\nname = \"{{cluster_name}}\"\nstate = \".kops-state\"\nvalues = [\"values/dev.yaml\"]\n\n[tasks.show]\nsteps = [[\"echo\", \"{{secret}}\"]]\n",
    );
    std::fs::create_dir_all(p.join("values")).unwrap();
    std::os::unix::fs::symlink(
        sibling.path().join("values.yaml"),
        p.join("values/dev.yaml"),
    )
    .unwrap();
    p.kopsform(&["show"])
        .failure(1)
        .stderr_has(&format!(
            "values/dev.yaml: is reached through the symbolic link `values/dev.yaml`, which leads outside the project folder (to {}); keep values files inside the project",
            sibling.path().canonicalize().unwrap().join("values.yaml").display()
        ))
        .output_lacks("from outside");
}
