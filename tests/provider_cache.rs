//! Issue 22, one provider cache for a whole run: kopsform points Terraform at the project's
//! `.kopsform/plugin-cache` and runs the `terraform init`s of clusters running side by side that
//! may install into it one at a time, so that three clusters initialised with `--all --jobs 3` from an empty cache install
//! hashicorp/aws once (the real provider, from the machine's filesystem mirror) and the others
//! link to it, with no checksum or "text file busy" errors; a cache the user names is used as it
//! is. Inits that install nothing (every provider locked and cached) share the lock and run
//! together; one that may install runs alone.

use crate::support::Project;
use crate::support::real_aws::{aws_mirror, write_cli_config};

const CLUSTERS: [&str; 3] = ["a", "b", "c"];

/// Three clusters, each with a Terraform folder that needs hashicorp/aws and the dependency lock
/// file a team commits (made by an init of its own, without any cache), and the CLI
/// configuration of the mirror.
fn three_clusters() -> Project {
    let mut p = Project::new();
    let mirror = aws_mirror();
    let config = p.join("terraform-cli.tfrc");
    write_cli_config(&config, &mirror);
    p.env("TF_CLI_CONFIG_FILE", &config.display().to_string());
    p.file(
        "tasks.toml",
        &init_tasks("", "\"-input=false\", \"-no-color\""),
    );
    std::fs::create_dir_all(p.join("1-prerequisites")).unwrap();
    let main_tf = "terraform {\n  required_providers {\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \"5.100.0\"\n    }\n  }\n}\n";
    p.file("scratch/main.tf", main_tf);
    p.tool(
        ".",
        "terraform",
        &["-chdir=scratch", "init", "-input=false", "-no-color"],
    )
    .success();
    let lock = p.read("scratch/.terraform.lock.hcl");
    std::fs::remove_dir_all(p.join("scratch")).unwrap();
    for id in CLUSTERS {
        p.file(&format!("clusters/{id}/main.tf"), main_tf);
        p.file(&format!("clusters/{id}/.terraform.lock.hcl"), &lock);
    }
    p
}

/// The provider folder of hashicorp/aws 5.100.0 under `root`, whatever the platform.
fn provider_dirs(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let dir = root.join("registry.terraform.io/hashicorp/aws/5.100.0");
    std::fs::read_dir(&dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn three_clusters_initialised_at_once_install_the_aws_provider_once() {
    let p = three_clusters();
    assert!(
        !p.exists(".kopsform/plugin-cache"),
        "the cache starts empty"
    );
    let run = p.kopsform(&["--all", "--jobs", "3", "init"]);
    run.success();
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        all.matches("Installing hashicorp/aws v5.100.0").count(),
        1,
        "{all}"
    );
    assert_eq!(
        all.matches("Using hashicorp/aws v5.100.0 from the shared cache directory")
            .count(),
        2,
        "{all}"
    );
    for bad in ["checksum", "text file busy", "Error"] {
        assert!(!all.contains(bad), "{bad}: {all}");
    }
    // One copy in the cache; each folder's provider links to it.
    let cache = p.join(".kopsform/plugin-cache");
    let cached = provider_dirs(&cache);
    assert_eq!(cached.len(), 1, "{cached:?}");
    for id in CLUSTERS {
        let installed = provider_dirs(&p.join(&format!("clusters/{id}/.terraform/providers")));
        assert_eq!(installed.len(), 1, "{id}: {installed:?}");
        let target = std::fs::read_link(&installed[0])
            .unwrap_or_else(|e| panic!("{id}: not a link into the cache: {e}"));
        assert_eq!(target, cached[0], "{id}");
    }

    // Again, with the cache full: every folder uses it, none installs, and they run together.
    for id in CLUSTERS {
        std::fs::remove_dir_all(p.join(&format!("clusters/{id}/.terraform"))).unwrap();
    }
    let run = p.kopsform(&["--verbose", "--all", "--jobs", "3", "init"]);
    run.success();
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert!(!all.contains("Installing hashicorp/aws"), "{all}");
    assert_eq!(all.matches("from the shared cache directory").count(), 3);
    // Each folder's lock file names the cached provider: the three inits share the lock.
    assert_eq!(
        all.matches("the provider cache's lock is shared").count(),
        3,
        "{all}"
    );
}

#[test]
fn a_cache_the_user_names_is_used_as_it_is() {
    let mut p = three_clusters();
    std::fs::create_dir_all(p.join("my-cache")).unwrap();
    let mine = p.join("my-cache").display().to_string();
    p.env("TF_PLUGIN_CACHE_DIR", &mine);
    p.kopsform(&["--all", "--jobs", "3", "init"]).success();
    assert!(!p.exists(".kopsform/plugin-cache"));
    assert_eq!(provider_dirs(&p.join("my-cache")).len(), 1);

    // Set empty, there is no cache: each folder installs its own.
    let mut p = three_clusters();
    p.env("TF_PLUGIN_CACHE_DIR", "");
    let run = p.kopsform(&["--all", "--jobs", "3", "init"]);
    run.success();
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(all.matches("Installing hashicorp/aws").count(), 3, "{all}");
    assert!(!p.exists(".kopsform/plugin-cache"));
}

/// A stand-in for `terraform` (other subcommands print nothing) whose `init` logs `start DIR` and `end DIR` (DIR: the folder it runs
/// in) into `inits.log` next to it; in between it waits, up to two seconds, for another init to be
/// running, so that two inits allowed to run together do (and one that is alone waits it out).
const LOGGING_INIT: &str = r#"#!/bin/sh
[ "$1" = init ] || exit 0
here=$(cd "$(dirname "$0")" && pwd)
me=$(basename "$PWD")
echo "start $me" >> "$here/inits.log"
touch "$here/running-$me"
i=0
while [ "$i" -lt 20 ]; do
  met=
  for f in "$here"/running-*; do
    other=${f##*/running-}
    if [ "$other" != "$me" ] && [ ! -e "$here/done-$other" ]; then met=1; fi
  done
  [ -n "$met" ] && break
  sleep 0.1
  i=$((i + 1))
done
# Long enough for the other to see this one running too.
sleep 0.3
echo "end $me" >> "$here/inits.log"
touch "$here/done-$me"
"#;

/// The platform folder Terraform names a cached package's (`linux_amd64`).
fn platform() -> String {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        arch => arch,
    };
    format!("{os}_{arch}")
}

#[test]
fn inits_that_install_nothing_share_the_cache_and_one_that_may_install_is_alone() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        &init_tasks("[tools]\nterraform = \"./tf\"\n\n", "\"-input=false\""),
    );
    p.script("tf", LOGGING_INIT);
    std::fs::create_dir_all(p.join("1-prerequisites")).unwrap();
    // A warm cache: hashicorp/aws 5.100.0 for this platform.
    p.file(
        &format!(
            ".kopsform/plugin-cache/registry.terraform.io/hashicorp/aws/5.100.0/{}/terraform-provider-aws_v5.100.0",
            platform()
        ),
        "placeholder",
    );
    let lock = "provider \"registry.terraform.io/hashicorp/aws\" {\n  version     = \"5.100.0\"\n  constraints = \"5.100.0\"\n  hashes = [\n    \"h1:placeholder=\",\n  ]\n}\n";
    let main_tf = "terraform {\n  required_providers {\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \"5.100.0\"\n    }\n  }\n}\n\nresource \"aws_s3_bucket\" \"b\" {\n  bucket = \"b\"\n}\n";
    for id in CLUSTERS {
        p.file(&format!("clusters/{id}/.terraform.lock.hcl"), lock);
    }
    p.file("clusters/a/main.tf", main_tf);
    p.file("clusters/b/main.tf", main_tf);
    // c needs hashicorp/random too, which its lock file lacks: its init installs it.
    p.file(
        "clusters/c/main.tf",
        &format!("{main_tf}\nresource \"random_id\" \"r\" {{\n  byte_length = 4\n}}\n"),
    );

    let run = p.kopsform(&["--all", "--jobs", "3", "init"]);
    run.success();
    let log = p.read("inits.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 6, "{log}\n{}", run.show());
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("no `{line}`: {log}"))
    };
    // c, which may install, ran alone: nothing between its start and its end.
    assert_eq!(at("end c"), at("start c") + 1, "{log}");
    // a and b, which install nothing, ran at the same time.
    assert!(
        at("start b") < at("end a") && at("start a") < at("end b"),
        "{log}\n{}",
        run.show()
    );
}

/// A tasks.toml: `head`, then one cluster per [`CLUSTERS`] (folder `clusters/<id>`), and a task
/// `init` running `terraform init ARGS` in the cluster's folder (`args`: TOML strings).
fn init_tasks(head: &str, args: &str) -> String {
    let mut toml = head.to_string();
    for id in CLUSTERS {
        toml.push_str(&format!(
            "[clusters.{id}]\nname = \"{id}.example.com\"\nstate = \"kops-state\"\ndir = \"clusters/{id}\"\n\n"
        ));
    }
    toml.push_str(&format!(
        "[tasks.init]\nsteps = [{{ run = [\"terraform\", \"init\", {args}], cwd = \"{{{{cluster.dir}}}}\" }}]\n"
    ));
    toml
}
