//! `[tools] terraform = "tofu"`: every Terraform command kopsform starts, its own reads included,
//! goes to the configured binary, never to `terraform` by name.
//!
//! OpenTofu itself cannot be installed on these machines (no registry kopsform's CI reaches ships
//! it), so `tofu` here is a stand-in that runs the real Terraform: the test proves the plumbing
//! (nothing is hard-coded), and src/plan.rs's unit tests cover OpenTofu's own plan text.

use crate::support::{S3, bring_up, cluster_project, require_terraform};

#[test]
fn with_terraform_set_to_tofu_no_command_reaches_terraform_by_name() {
    require_terraform();
    let s3 = S3::start();
    let mut p = cluster_project(&s3);
    let real = p.find_on_path("terraform").unwrap();
    let log = p.join(".calls.log");
    // `tofu` runs the real Terraform; a `terraform` found by name logs that it was called.
    p.script(
        "bin/tofu",
        &format!(
            "#!/bin/sh\necho \"tofu $1\" >> '{}'\nKOPSFORM_TEST_VIA_TOFU=1 exec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    );
    p.script(
        "bin/terraform",
        &format!(
            "#!/bin/sh\n[ -n \"$KOPSFORM_TEST_VIA_TOFU\" ] || echo \"terraform $1\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    );
    let bin = p.join("bin");
    p.prepend_path(&bin);
    let tasks = p.read("tasks.toml").replace(
        "terraform = \"terraform\" # or \"tofu\"",
        "terraform = \"tofu\"",
    );
    assert!(tasks.contains("terraform = \"tofu\""));
    p.file("tasks.toml", &tasks);
    // The prerequisites layer's provisioners call the aws CLI, not Terraform: nothing to route.

    bring_up(&p);
    p.kopsform(&["outputs"]).success();
    p.kopsform(&["dryrun"]).success();
    // The saved plan of the first apply: changes (2), read with `tofu show -json`.
    p.kopsform(&["review", "2-kops/kubernetes.tfplan"])
        .failure(2)
        .stdout_has("## Terraform plan review");
    p.kopsform(&["doctor"]).stdout_has("tofu");

    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(!calls.contains("terraform "), "called by name:\n{calls}");
    for sub in [
        "tofu init",
        "tofu plan",
        "tofu apply",
        "tofu output",
        "tofu show",
    ] {
        assert!(calls.contains(sub), "{sub} missing:\n{calls}");
    }
}
