//! Issue 22, one provider cache for a whole run: kopsform points Terraform at the project's
//! `.kopsform/plugin-cache` and runs the `terraform init`s of clusters running side by side one at
//! a time, so that three clusters initialised with `--all --jobs 3` from an empty cache install
//! hashicorp/aws once (the real provider, from the machine's filesystem mirror) and the others
//! link to it, with no checksum or "text file busy" errors; a cache the user names is used as it
//! is.

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
    let mut toml = String::new();
    for id in CLUSTERS {
        toml.push_str(&format!(
            "[clusters.{id}]\nname = \"{id}.example.com\"\nstate = \"kops-state\"\ndir = \"clusters/{id}\"\n\n"
        ));
    }
    toml.push_str(
        "[tasks.init]\nsteps = [{ run = [\"terraform\", \"init\", \"-input=false\", \"-no-color\"], cwd = \"{{cluster.dir}}\" }]\n",
    );
    p.file("tasks.toml", &toml);
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

    // Again, with the cache full: every folder uses it, none installs.
    for id in CLUSTERS {
        std::fs::remove_dir_all(p.join(&format!("clusters/{id}/.terraform"))).unwrap();
    }
    let run = p.kopsform(&["--all", "--jobs", "3", "init"]);
    run.success();
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert!(!all.contains("Installing hashicorp/aws"), "{all}");
    assert_eq!(all.matches("from the shared cache directory").count(), 3);
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
