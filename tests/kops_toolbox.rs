//! Goldens of `kops toolbox template` (issue 18: teams keep their setups unchanged): each folder
//! of tests/fixtures/kops-toolbox/ holds templates, values, snippets, the render step's settings
//! (`case.toml`) and the file kops 1.36.2 writes from them (`expected`, derived from kops's code:
//! tests/fixtures/kops-toolbox/README.md says how). kopsform runs each as a user would, a render
//! task in tasks.toml, and must write the same bytes.

use std::path::Path;

use crate::support::{Project, copy_tree, repo};

const CASES: &str = "tests/fixtures/kops-toolbox";

/// A project holding `case`'s files, whose one task `render` is the case's step; the outputs
/// are empty (a `terraform` that prints `{}`), so the values are the case's alone.
fn project(case: &Path) -> (Project, String) {
    let p = Project::new();
    copy_tree(case, p.path());
    let settings: toml::Table =
        toml::from_str(&std::fs::read_to_string(case.join("case.toml")).unwrap()).unwrap();
    let mut step = vec!["engine = \"go\"".to_string()];
    let mut values = String::new();
    for (key, value) in &settings {
        if key == "values" {
            values = format!("values = {value}\n");
        } else {
            step.push(format!("{key} = {value}"));
        }
    }
    p.script("fake-terraform", "#!/bin/sh\necho '{}'\n");
    p.file("1-prerequisites/main.tf", "# the outputs are empty\n");
    p.file(
        "tasks.toml",
        &format!(
            "[tools]\nterraform = \"./fake-terraform\"\n\n[cluster]\nname = \"eu1.k8s.example.com\"\nstate = \"s3://bucket\"\n{values}\n[tasks.render]\nsteps = [{{ {} }}]\n",
            step.join(", ")
        ),
    );
    let out = settings["out"].as_str().unwrap().to_string();
    (p, out)
}

#[test]
fn every_case_renders_what_kops_toolbox_template_writes() {
    let mut names: Vec<_> = std::fs::read_dir(repo().join(CASES))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for case in names {
        let (p, out) = project(&case);
        let run = p.kopsform(&["render"]);
        assert_eq!(run.code, 0, "{}\n{}", case.display(), run.show());
        let expected = std::fs::read_to_string(case.join("expected")).unwrap();
        assert_eq!(
            p.read(&out),
            expected,
            "{}: the rendered file differs from kops's",
            case.display()
        );
    }
}

/// The golden project with its `case.toml` changed by `edit`.
fn edited(case: &str, edit: impl Fn(&str) -> String) -> Project {
    let (p, _) = project(&repo().join(CASES).join(case));
    p.file("tasks.toml", &edit(&p.read("tasks.toml")));
    p
}

#[test]
fn a_malformed_set_assignment_names_the_step_and_the_assignment() {
    let p = edited("set-and-set-string", |t| {
        t.replace(
            "\"foo.myArray[1]=false,foo.myArray[3]=4\"",
            "\"foo.myArray[x]=1\"",
        )
    });
    p.kopsform(&["render"])
        .failure(1)
        .stderr_has("the `render` step of mytemplate.tpl: `set` assignment `foo.myArray[x]=1`: `[x]` is not a list index")
        .stderr_has("nothing was written");
    assert!(!p.exists("output.yaml"));
}

#[test]
fn an_empty_template_folder_is_an_error() {
    let p = edited("template-file-and-dir", |t| t.to_string());
    std::fs::create_dir_all(p.join("empty")).unwrap();
    p.file(
        "tasks.toml",
        &p.read("tasks.toml")
            .replace("\"instancegroups\"]", "\"instancegroups\", \"empty\"]"),
    );
    p.kopsform(&["render"])
        .failure(1)
        .stderr_has("empty: the folder holds no file (kops would render nothing from it); fix the `render` path in ");
    assert!(!p.exists("output.yaml"));
}

#[test]
fn a_missing_template_is_named_and_nothing_is_written() {
    // A template may be outside the project (a template several projects share: the sandbox's
    // `../../2-kops/cluster-template.yml`, tests/transcripts.rs); a missing one is named.
    let p = edited("instancegroup", |t| {
        t.replace(
            "render = \"cluster.tmpl.yaml\"",
            "render = [\"cluster.tmpl.yaml\", \"../elsewhere.yaml\"]",
        )
    });
    p.kopsform(&["render"])
        .failure(1)
        .stderr_has("elsewhere.yaml: cannot read the template: No such file or directory");
    assert!(!p.exists("output.yaml"));
}

#[test]
fn format_yaml_refuses_a_document_that_is_not_a_mapping() {
    let p = edited("template-file-and-dir-format-yaml", |t| t.to_string());
    p.file("instancegroups/sub/c.yaml", "- a\n- b\n");
    p.file("output.yaml", "previous\n");
    p.kopsform(&["render"]).failure(1).stderr_has(
        "instancegroups/sub/c.yaml (rendered), format-yaml: a document is a list, not a mapping",
    );
    assert_eq!(p.read("output.yaml"), "previous\n");
}

#[test]
fn the_command_line_goes_over_the_steps_set_and_set_string() {
    // The step's `set` and `set-string` come before the command line's --set and --set-string.
    let p = edited("set-and-set-string", |t| t.to_string());
    p.kopsform(&[
        "render",
        "--set",
        "foo.myArray=[9]",
        "--set-string",
        "version=3",
    ])
    .success();
    assert_eq!(
        p.read("output.yaml"),
        "version: \"3\"\nbar: baz\nmyArray: [9]\n"
    );
    // A --set-string value is a string: where it would read as a bool, the structure check
    // refuses it, as any value.
    p.kopsform(&["render", "--set-string", "foo.bar=true"])
        .failure(1)
        .stderr_has("it reads as a boolean true, not the string \"true\"; the value from --set foo.bar=... is \"true\"");
}

#[test]
fn every_template_file_is_part_of_the_up_to_date_check() {
    let p = edited("template-file-and-dir", |t| {
        t.replace(
            "[tasks.render]",
            "[tasks.render]\nsources = [\"cluster.yaml\"]\ngenerates = [\"output.yaml\"]",
        )
    });
    p.kopsform(&["render"]).success();
    p.kopsform(&["render"])
        .success()
        .stderr_has("render  up to date");
    p.file(
        "instancegroups/sub/c.yaml",
        "kind: InstanceGroup\nname: d\n",
    );
    p.kopsform(&["render"]).success();
    assert!(p.read("output.yaml").ends_with("name: d\n"));
}

#[test]
fn a_step_set_value_cannot_change_the_yaml_structure() {
    // docs/security.md: `set` values are values like any other.
    let p = edited("set-and-set-string", |t| {
        t.replace(
            "\"version=1.0,foo.bar=baz\"",
            "\"version=1.0,foo.bar=x: y\"",
        )
    });
    p.kopsform(&["render"])
        .failure(1)
        .stderr_has("would change the YAML structure")
        .stderr_has("of the `render` step of mytemplate.tpl");
    assert!(!p.exists("output.yaml"));
}

#[test]
fn doctor_renders_every_template_of_the_step_as_the_task_does() {
    let p = Project::new();
    p.script("fake-terraform", "#!/bin/sh\necho '{}'\n");
    p.file("1-prerequisites/main.tf", "# the outputs are empty\n");
    p.file("values.yaml", "zone: eu-west-1a\n");
    p.file(
        "cluster.yaml",
        "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: {{ .clusterName }}\nspec:\n  kubernetesVersion: 1.33.4\n",
    );
    for (file, name) in [("a-nodes.yaml", "nodes"), ("b-bastions.yaml", "bastions")] {
        p.file(
            &format!("instancegroups/{file}"),
            &format!(
                "apiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: {name}\n  labels:\n    kops.k8s.io/cluster: {{{{ .clusterName }}}}\nspec:\n  role: Node\n  subnets:\n  - {{{{ .zone }}}}\n"
            ),
        );
    }
    p.file(
        "tasks.toml",
        "[tools]\nterraform = \"./fake-terraform\"\n\n[cluster]\nname = \"eu1.k8s.example.com\"\nstate = \"kops-state\"\nvalues = [\"values.yaml\"]\n\n[tasks.cluster-template]\nsteps = [{ render = [\"cluster.yaml\", \"instancegroups\"], out = \"2-kops/cluster.yml\", engine = \"go\" }]\n",
    );
    let doctor = p.kopsform(&["doctor"]);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains("template"))
        .unwrap_or_else(|| panic!("a template line\n{}", doctor.show()));
    assert_eq!(
        line,
        "ok    template cluster.yaml, instancegroups renders: Cluster eu1.k8s.example.com, InstanceGroup nodes, InstanceGroup bastions"
    );
    p.kopsform(&["cluster-template"]).success();
    assert!(p.read("2-kops/cluster.yml").contains("---\napiVersion"));

    // A template of the folder that kops would refuse blocks doctor, as it fails the task.
    p.file(
        "instancegroups/b-bastions.yaml",
        "apiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: bastions\nspec:\n  role: Node\n",
    );
    let doctor = p.kopsform(&["doctor"]);
    doctor.failure(1);
    assert!(
        doctor
            .stdout
            .lines()
            .any(|l| l.starts_with("FAIL  template") && l.contains("kops.k8s.io/cluster")),
        "{}",
        doctor.show()
    );
}
