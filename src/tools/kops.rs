//! What kopsform knows of kops: what a kops command line does (one table of its verbs, read by
//! the retries, the cluster lock and the isolated dry run alike), and parsers for the text kops
//! prints (its tables, `kops version`), so kopsform can say what it means.
//!
//! kops renders its tables with Go's tabwriter (kops: util/pkg/tables/format.go): a header line of
//! upper-case column names, then one row per line, cells separated by runs of blanks, ended by a
//! blank line. No cell kopsform reads contains a blank, so splitting on whitespace is exact.

use crate::tools::version::first_version;

/// A kops command line as kopsform reads it: the command words before the first flag
/// (`update cluster`), and the flags that decide what the command does.
#[derive(Debug, Default)]
pub(crate) struct KopsArgs {
    /// The command words before the first flag (`update cluster`).
    pub(crate) verbs: Vec<String>,
    pub(crate) yes: bool,
    pub(crate) target: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) files: Vec<String>,
    pub(crate) ssh_public_key: bool,
    /// `--kubeconfig` (`export kubecfg`: the file it writes instead of KUBECONFIG's).
    pub(crate) kubeconfig: Option<String>,
}

/// When a verb has a property: always, never, or depending on `--yes` (kops previews without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Never,
    Always,
    WithYes,
    WithoutYes,
    /// Unless it applies changes to the cloud itself: `--yes` with the direct target (kops's
    /// default). kops ignores `--yes` with `--target terraform` (cmd/kops/update_cluster.go:
    /// only the direct target is a dry run without it).
    UnlessApplying,
}

/// Whether an isolated dry run (`snapshot-state`) lets the verb run at all; the pre-flight checks
/// its flags and stores after that (statestore::preflight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolated {
    No,
    Yes,
    /// Only from files (`create -f`): `create cluster` makes keys in the live key store.
    WithFiles,
}

/// What kopsform knows of one kops verb (kops 1.36, cmd/kops/).
struct Verb {
    /// The first command word, and the second where it decides (`toolbox dump`).
    words: (&'static str, Option<&'static str>),
    /// It only reads (or previews), so it runs again after a transient error.
    repeatable: When,
    /// It changes the cluster (its state store or its cloud resources), so it takes the lock.
    locks: When,
    isolated: Isolated,
    /// It writes the cluster's spec objects into `--state` (`<cluster>/config`, instance groups).
    writes_registry: bool,
}

/// The one list of kops verbs kopsform tells apart. A verb not listed is treated as one that may
/// change anything: never repeated, never allowed in an isolated run (it takes no lock unless the
/// task says `lock = true`).
const VERBS: &[Verb] = &[
    // Reads: kops get/validate/version, export kubecfg (writes only the local kubeconfig).
    Verb::reads(("get", None)),
    Verb::reads(("validate", None)),
    Verb::reads(("version", None)),
    Verb::reads(("export", None)),
    Verb::reads(("toolbox", Some("dump"))),
    Verb::reads(("toolbox", Some("template"))),
    // `update cluster` (kops 1.36, cmd/kops/update_cluster.go, `RunUpdateCluster`): with the
    // direct target (the default) and without --yes it only previews. With `--target terraform`
    // it is never a dry run, --yes or not: besides kubernetes.tf and data/ it issues every missing
    // keyset into the key store (upup/pkg/fi/fitasks/keypair.go, `Render`: `StoreKeyset`) and
    // every missing secret and token into the secret store (fitasks/secret.go:
    // `GetOrCreateSecret`), both under spec.configBase (by default `<state>/<cluster>`), writes the
    // managed files there itself with -TerraformManagedFiles (fitasks/managedfile.go), and exports
    // a kubeconfig unless --create-kube-config=false (`CreateKubecfg` defaults to true).
    // Repeatable all the same, except when it applies to the cloud: each key and secret is
    // created only when missing and everything else is written again with the same content, so a
    // second attempt finishes what a failed one began. It takes the lock whatever the flags: two
    // runs at once could each find a CA missing and issue a different one, the second
    // overwriting the first (and a preview reads the stores the other run writes).
    Verb {
        words: ("update", None),
        repeatable: When::UnlessApplying,
        locks: When::Always,
        isolated: Isolated::Yes,
        writes_registry: true,
    },
    Verb {
        words: ("rolling-update", None),
        repeatable: When::WithoutYes,
        locks: When::WithYes,
        isolated: Isolated::Yes,
        writes_registry: false,
    },
    Verb {
        words: ("replace", None),
        repeatable: When::Never,
        locks: When::Always,
        isolated: Isolated::Yes,
        writes_registry: true,
    },
    Verb {
        words: ("create", None),
        repeatable: When::Never,
        locks: When::Always,
        isolated: Isolated::WithFiles,
        writes_registry: true,
    },
    // Without --yes, delete only lists what it would delete (cmd/kops/delete_cluster.go).
    Verb {
        words: ("delete", None),
        repeatable: When::Never,
        locks: When::WithYes,
        isolated: Isolated::No,
        writes_registry: false,
    },
    Verb::changes(("edit", None)),
    Verb::changes(("upgrade", None)),
    Verb::changes(("promote", None)),
    Verb::changes(("distrust", None)),
    Verb::changes(("rotate", None)),
    Verb::changes(("set", None)),
    Verb::changes(("unset", None)),
    Verb::changes(("toolbox", Some("enroll"))),
];

impl Verb {
    const fn reads(words: (&'static str, Option<&'static str>)) -> Verb {
        Verb {
            words,
            repeatable: When::Always,
            locks: When::Never,
            isolated: Isolated::Yes,
            writes_registry: false,
        }
    }

    /// Writes the state store or the cloud whatever the flags.
    const fn changes(words: (&'static str, Option<&'static str>)) -> Verb {
        Verb {
            words,
            repeatable: When::Never,
            locks: When::Always,
            isolated: Isolated::No,
            writes_registry: false,
        }
    }
}

impl When {
    fn holds(self, args: &KopsArgs) -> bool {
        match self {
            When::Never => false,
            When::Always => true,
            When::WithYes => args.yes,
            When::WithoutYes => !args.yes,
            When::UnlessApplying => !args.applies_to_the_cloud(),
        }
    }
}

impl KopsArgs {
    pub(crate) fn parse(args: &[String]) -> KopsArgs {
        let mut parsed = KopsArgs::default();
        let mut i = 0;
        let mut flags_seen = false;
        while i < args.len() {
            let arg = &args[i];
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            if !flag.starts_with('-') {
                if !flags_seen {
                    parsed.verbs.push(arg.clone());
                }
                i += 1;
                continue;
            }
            flags_seen = true;
            let mut value = || {
                inline.clone().or_else(|| {
                    i += 1;
                    args.get(i).cloned()
                })
            };
            match flag {
                "--yes" | "-y" => {
                    parsed.yes = inline.as_deref().is_none_or(|v| v != "false");
                }
                "--target" => parsed.target = value(),
                "--state" => parsed.state = value(),
                "-f" | "--filename" => parsed.files.extend(value()),
                "--kubeconfig" => parsed.kubeconfig = value(),
                "--ssh-public-key" | "-i" => {
                    value();
                    parsed.ssh_public_key = true;
                }
                _ => {}
            }
            i += 1;
        }
        parsed
    }

    /// `` `kops update cluster` ``, for messages.
    pub(crate) fn command(&self) -> String {
        format!("`kops {}`", self.verbs.join(" "))
    }

    /// The first command word (`update`), empty when there is none.
    pub(crate) fn verb(&self) -> &str {
        self.verbs.first().map_or("", String::as_str)
    }

    fn facts(&self) -> Option<&'static Verb> {
        let first = self.verb();
        let second = self.verbs.get(1).map(String::as_str);
        VERBS
            .iter()
            .find(|v| v.words.0 == first && v.words.1.is_none_or(|w| Some(w) == second))
    }

    /// `--yes` with the direct target (kops's default, also when `--target` is not given): kops
    /// changes the cloud itself. `--target terraform` and `dryrun` never do.
    fn applies_to_the_cloud(&self) -> bool {
        self.yes && self.target.as_deref().is_none_or(|t| t == "direct")
    }

    /// It only reads or previews, or its writes converge (each created only when missing, or
    /// written again the same): safe to run again after a transient error.
    pub(crate) fn repeatable(&self) -> bool {
        self.facts().is_some_and(|v| v.repeatable.holds(self))
    }

    /// It changes the cluster's state store or cloud resources: it runs under the cluster's lock.
    pub(crate) fn changes_cluster(&self) -> bool {
        self.facts().is_some_and(|v| v.locks.holds(self))
    }

    /// An isolated dry run may run it (its flags and stores are checked after this).
    pub(crate) fn allowed_in_isolation(&self) -> bool {
        self.facts().is_some_and(|v| match v.isolated {
            Isolated::No => false,
            Isolated::Yes => true,
            Isolated::WithFiles => !self.files.is_empty(),
        })
    }

    /// `kops export kubecfg` (or `kubeconfig`): writes a kubeconfig with a context named after
    /// the cluster, to `--kubeconfig` when given (cmd/kops/export_kubeconfig.go).
    pub(crate) fn exports_kubeconfig(&self) -> bool {
        self.verb() == "export"
            && matches!(
                self.verbs.get(1).map(String::as_str),
                Some("kubecfg" | "kubeconfig")
            )
    }

    /// `kops update cluster`: since kops 1.31 it renders the nodes at the control plane's
    /// *running* Kubernetes version, which it asks the API server named by the kubeconfig context
    /// of the cluster's name (kops 1.36, cmd/kops/update_cluster.go,
    /// `checkControlPlaneRunningVersion`, unless `--ignore-kubelet-version-skew`).
    pub(crate) fn updates_cluster(&self) -> bool {
        self.verb() == "update" && self.verbs.get(1).is_some_and(|w| w == "cluster")
    }

    /// `kops rolling-update cluster --yes`: replaces instances, the control plane's among them,
    /// which changes the version `update cluster` renders the nodes at.
    pub(crate) fn rolls_instances(&self) -> bool {
        self.verb() == "rolling-update" && self.yes
    }

    /// It writes the cluster's spec objects into `--state`.
    pub(crate) fn writes_registry(&self) -> bool {
        self.facts().is_some_and(|v| v.writes_registry)
    }
}

/// kops's boolean flags that a step may write just before a positional cluster name
/// (`kops update cluster --yes NAME`); any other flag without `=` is taken to own the word after
/// it.
const BOOLEAN_FLAGS: &[&str] = &[
    "--yes",
    "-y",
    "--cloudonly",
    "--force",
    "--unregister",
    "--full",
    "--internal",
    "--reconcile",
    "--prune",
    "--allow-kops-downgrade",
    "--create-kube-config",
    "--admin",
];

/// Whether a kops step names `cluster` as a positional argument (`kops update cluster NAME`,
/// `kops rolling-update cluster --yes NAME`): then it must not get `KOPS_CLUSTER_NAME`.
///
/// kops makes that variable the default of `--name` (kops 1.36: cmd/kops/root.go,
/// `defaultClusterName := os.Getenv("KOPS_CLUSTER_NAME")`), and every command that takes the
/// cluster as its argument (`Args: rootCommand.clusterNameArgs...`: create/delete/edit/update/
/// upgrade/validate/rolling-update/reconcile cluster, export kubecfg, get, toolbox dump and
/// template...) goes through `RootCmd.ProcessArgs`, which fails with "cannot specify cluster via
/// --name and positional argument" when one argument is given and `--name` is not empty, even when
/// both say the same name. A word counts as positional when it is the cluster's name and is not
/// the value of the flag before it (`--name NAME`, `--dns-zone NAME`).
pub(crate) fn names_cluster_positionally(args: &[String], cluster: &str) -> bool {
    args.iter().enumerate().any(|(i, arg)| {
        arg == cluster
            && i.checked_sub(1).is_none_or(|p| {
                let before = &args[p];
                !before.starts_with('-')
                    || before.contains('=')
                    || BOOLEAN_FLAGS.contains(&before.as_str())
            })
    })
}

/// The environment variables that change what kops writes or accepts (its Terraform output, the
/// managed files and keys, whether it runs at all), each with the kops 1.36 file that reads it.
/// The up-to-date fingerprint of a task that runs kops takes in their values (run::uptodate), so
/// that, say, `KOPS_FEATURE_FLAGS=-TerraformManagedFiles` makes `cluster-update` run again.
/// `KOPS_STATE_STORE` and `KOPS_CLUSTER_NAME` are not here: kopsform sets both for every kops step.
pub(crate) const OUTPUT_ENVIRONMENT: &[(&str, &str)] = &[
    ("KOPS_FEATURE_FLAGS", "pkg/featureflag/featureflag.go"),
    // `viper.BindEnv("lifecycle-overrides", ...)` in `update cluster`'s flags.
    ("KOPS_LIFECYCLE_OVERRIDES", "cmd/kops/update_cluster.go"),
    // Where nodeup and the kops assets come from, baked into the user data and addon manifests.
    (
        "KOPS_BASE_URL",
        "pkg/nodemodel/wellknownassets/kopsassets.go, pkg/assets/builder.go, upup/pkg/fi/cloudup/template_functions.go",
    ),
    // The Kubernetes version checks; also passed to kops-controller's manifest.
    (
        "KOPS_RUN_TOO_NEW_VERSION",
        "upup/pkg/fi/cloudup/apply_cluster.go, upup/pkg/fi/cloudup/template_functions.go",
    ),
    (
        "KOPS_RUN_OBSOLETE_VERSION",
        "upup/pkg/fi/cloudup/apply_cluster.go",
    ),
    // The architectures whose nodeup and assets are listed.
    ("KOPS_ARCH", "util/pkg/architectures/architectures.go"),
    ("KOPS_RSA_PRIVATE_KEY_SIZE", "pkg/pki/privatekey.go"),
    (
        "KOPS_TERRAFORM_0_12_RENAMED",
        "upup/pkg/fi/cloudup/awstasks/ebsvolume.go",
    ),
    // Image overrides of the addons.
    ("DNSCONTROLLER_IMAGE", "pkg/assets/builder.go"),
    ("KOPSCONTROLLER_IMAGE", "pkg/assets/builder.go"),
    ("KUBE_APISERVER_HEALTHCHECK_IMAGE", "pkg/assets/builder.go"),
    // Copied into the nodes' user data.
    ("GOSSIP_DNS_CONN_LIMIT", "pkg/model/resources/nodeup.go"),
    // An S3-compatible store: copied into the user data, and the files provider's region.
    (
        "S3_ENDPOINT",
        "pkg/model/resources/nodeup.go, util/pkg/vfs/s3context.go",
    ),
    (
        "S3_REGION",
        "pkg/model/resources/nodeup.go, util/pkg/vfs/s3context.go",
    ),
    ("S3_ACCESS_KEY_ID", "pkg/model/resources/nodeup.go"),
    ("S3_SECRET_ACCESS_KEY", "pkg/model/resources/nodeup.go"),
    // Where the bucket's region is asked; a `cn-` region switches dns-controller to gossip.
    (
        "AWS_REGION",
        "util/pkg/vfs/s3context.go, upup/pkg/fi/cloudup/template_functions.go",
    ),
];

/// Whether `KOPS_FEATURE_FLAGS`-style text turns the flag `name` on or off: `Name` and `+Name` turn
/// it on, `-Name` off, the last mention wins, blanks around each item are ignored (kops 1.36:
/// pkg/featureflag/featureflag.go, `ParseFlags`). `None` when it is not mentioned.
pub(crate) fn feature_flag(flags: &str, name: &str) -> Option<bool> {
    flags
        .split(',')
        .map(str::trim)
        .filter_map(|item| match item.strip_prefix('-') {
            Some(rest) => (rest == name).then_some(false),
            None => (item.strip_prefix('+').unwrap_or(item) == name).then_some(true),
        })
        .next_back()
}

/// One row of `kops rolling-update cluster`'s table
/// (kops: cmd/kops/rolling-update_cluster.go, columns NAME STATUS NEEDUPDATE READY MIN TARGET MAX NODES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupStatus {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) need_update: u64,
    pub(crate) ready: u64,
    pub(crate) min: u64,
    pub(crate) target: u64,
    pub(crate) max: u64,
    /// Absent with `--cloudonly`.
    pub(crate) nodes: Option<u64>,
}

impl GroupStatus {
    pub(crate) fn needs_update(&self) -> bool {
        self.need_update > 0 || self.status == "NeedsUpdate"
    }
}

/// Reads the rolling-update table from kops's stdout. `None` when there is no table.
pub(crate) fn parse_rolling_update(text: &str) -> Option<Result<Vec<GroupStatus>, String>> {
    let rows = table_after(text, &["NAME", "STATUS", "NEEDUPDATE"])?;
    Some(
        rows.iter()
            .map(|(line, cells)| {
                let number = |i: usize| -> Result<u64, String> {
                    let cell = cells.get(i).ok_or_else(|| {
                        format!("rolling-update table line {line}: too few columns")
                    })?;
                    cell.parse().map_err(|_| {
                        format!("rolling-update table line {line}: `{cell}` is not a number")
                    })
                };
                Ok(GroupStatus {
                    name: cells[0].to_string(),
                    status: cells
                        .get(1)
                        .ok_or_else(|| format!("rolling-update table line {line}: no STATUS"))?
                        .to_string(),
                    need_update: number(2)?,
                    ready: number(3)?,
                    min: number(4)?,
                    target: number(5)?,
                    max: number(6)?,
                    nodes: if cells.len() > 7 {
                        Some(number(7)?)
                    } else {
                        None
                    },
                })
            })
            .collect(),
    )
}

/// One resource of `kops delete cluster`'s listing
/// (kops: cmd/kops/delete_cluster.go, columns TYPE NAME ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloudResource {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) id: String,
}

/// Reads the resource listing from `kops delete cluster`'s stdout. Empty when kops listed none.
pub(crate) fn parse_delete_listing(text: &str) -> Result<Vec<CloudResource>, String> {
    let Some(rows) = table_after(text, &["TYPE", "NAME", "ID"]) else {
        return Ok(Vec::new());
    };
    rows.iter()
        .map(|(line, cells)| match cells.as_slice() {
            [kind, name @ .., id] if !name.is_empty() => Ok(CloudResource {
                kind: kind.to_string(),
                name: name.join(" "),
                id: id.to_string(),
            }),
            [kind, id] => Ok(CloudResource {
                kind: kind.to_string(),
                name: String::new(),
                id: id.to_string(),
            }),
            _ => Err(format!("delete listing line {line}: expected TYPE NAME ID")),
        })
        .collect()
}

/// The rows (1-based line number, cells) below the first header line starting with `header`, up
/// to the first blank line.
fn table_after<'a>(text: &'a str, header: &[&str]) -> Option<Vec<(usize, Vec<&'a str>)>> {
    let mut lines = text.lines().enumerate();
    lines.by_ref().find(|(_, line)| {
        let cells: Vec<&str> = line.split_whitespace().collect();
        cells.len() >= header.len() && cells[..header.len()] == *header
    })?;
    Some(
        lines
            .map_while(|(i, line)| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                (!cells.is_empty()).then_some((i + 1, cells))
            })
            .collect(),
    )
}

/// The groups that need an update, each as `NAME (N of M nodes)` with `name` shaping the name.
pub(crate) fn needing_update(groups: &[GroupStatus], name: impl Fn(&str) -> String) -> Vec<String> {
    groups
        .iter()
        .filter(|g| g.needs_update())
        .map(|g| {
            format!(
                "{} ({} of {} nodes)",
                name(&g.name),
                g.need_update,
                g.target
            )
        })
        .collect()
}

/// Whether Terraform text as kops writes it configures `provider "aws"` with `alias = "files"`:
/// kops writes one top-level block per provider, `provider "aws" {` to a `}` at the start of a
/// line, its attributes one a line (kops: upup/pkg/fi/cloudup/terraform/target_hcl2.go,
/// `writeProviders`), and adds the `files` alias only for managed files rendered into Terraform
/// (util/pkg/vfs/s3fs.go, `RenderTerraform`: `EnsureTerraformProvider`).
pub(crate) fn declares_files_provider(terraform: &str) -> bool {
    let mut in_aws = false;
    for line in terraform.lines() {
        if !line.starts_with([' ', '\t']) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words == ["}"] {
                in_aws = false;
            } else if !words.is_empty() {
                in_aws = words == ["provider", "\"aws\"", "{"];
            }
            continue;
        }
        let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        if in_aws && squeezed == "alias=\"files\"" {
            return true;
        }
    }
    false
}

/// `kops version`: `Client version: 1.30.1 (git-v1.30.1)` (cmd/kops/version.go), or the bare
/// version of `kops version --short`.
pub(crate) fn parse_version(stdout: &str) -> Option<String> {
    for line in stdout.lines() {
        if let Some(rest) = line.trim().strip_prefix("Client version:") {
            let word = rest.split_whitespace().next()?;
            return first_version(word).filter(|v| word.trim_start_matches('v') == v);
        }
    }
    let text = stdout.trim();
    (!text.contains(char::is_whitespace))
        .then(|| first_version(text))
        .flatten()
        .filter(|v| text.trim_start_matches('v') == v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positional_cluster_name_is_told_from_a_flag_value() {
        let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let c = "c.example.com";
        for yes in [
            "update cluster c.example.com --yes",
            "update cluster --yes c.example.com",
            "rolling-update cluster --state=s3://b c.example.com",
            "get c.example.com",
        ] {
            assert!(names_cluster_positionally(&words(yes), c), "{yes}");
        }
        for no in [
            "update cluster --name c.example.com --yes",
            "create cluster --dns-zone c.example.com",
            "update cluster --yes",
            "get ig --name=c.example.com",
        ] {
            assert!(!names_cluster_positionally(&words(no), c), "{no}");
        }
    }

    /// What the kubeconfig passing and the up-to-date invalidation look for.
    #[test]
    fn kubeconfig_exports_cluster_updates_and_rolls_are_told_apart() {
        let parse = |line: &str| {
            KopsArgs::parse(
                &line
                    .split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>(),
            )
        };
        let export = parse("export kubecfg --admin --kubeconfig=2-kops/kubeconfig --name c");
        assert!(export.exports_kubeconfig());
        assert_eq!(export.kubeconfig.as_deref(), Some("2-kops/kubeconfig"));
        assert!(parse("export kubeconfig --kubeconfig x").exports_kubeconfig());
        assert!(!parse("get clusters --kubeconfig x").exports_kubeconfig());
        assert!(parse("update cluster --name c --target terraform").updates_cluster());
        assert!(!parse("update --help").updates_cluster());
        assert!(parse("rolling-update cluster --yes").rolls_instances());
        assert!(!parse("rolling-update cluster --yes=false").rolls_instances());
        assert!(!parse("rolling-update cluster").rolls_instances());
    }

    /// Each verb's four answers, from the one table: repeatable, locks, allowed in an isolated
    /// run, writes the registry.
    #[test]
    fn one_table_says_what_each_kops_command_does() {
        let cases: &[(&str, [bool; 4])] = &[
            ("get clusters --state s3://b", [true, false, true, false]),
            ("validate cluster --wait 10m", [true, false, true, false]),
            ("export kubecfg --admin", [true, false, true, false]),
            ("toolbox dump -o yaml", [true, false, true, false]),
            (
                "toolbox template --template t.yml",
                [true, false, true, false],
            ),
            ("toolbox enroll --cluster c", [false, true, false, false]),
            (
                "update cluster --target terraform --out .",
                [true, true, true, true],
            ),
            // kops ignores --yes with the terraform target: the same keys, secrets, kubeconfig
            // and files, created only when missing (issue 17, mismatch 8).
            (
                "update cluster --target terraform --out . --yes",
                [true, true, true, true],
            ),
            (
                "update cluster --target=terraform --yes=true",
                [true, true, true, true],
            ),
            ("update cluster --yes", [false, true, true, true]),
            (
                "update cluster --target direct --yes",
                [false, true, true, true],
            ),
            (
                "update cluster --target dryrun --yes",
                [true, true, true, true],
            ),
            ("update cluster", [true, true, true, true]),
            ("rolling-update cluster", [true, false, true, false]),
            ("rolling-update cluster --yes", [false, true, true, false]),
            // `--yes=true` is --yes (the lock used to miss it); `--yes=false` is a preview.
            (
                "rolling-update cluster --yes=true",
                [false, true, true, false],
            ),
            (
                "rolling-update cluster --yes=false",
                [true, false, true, false],
            ),
            ("replace --force -f cluster.yml", [false, true, true, true]),
            ("create -f cluster.yml", [false, true, true, true]),
            ("create cluster --zones a", [false, true, false, true]),
            ("delete cluster --name c", [false, false, false, false]),
            ("delete cluster --name c --yes", [false, true, false, false]),
            ("edit ig nodes", [false, true, false, false]),
            ("rotate secret", [false, true, false, false]),
            ("frobnicate", [false, false, false, false]),
            ("--state s3://b get clusters", [false, false, false, false]),
        ];
        for (line, want) in cases {
            let args: Vec<String> = line.split(' ').map(String::from).collect();
            let k = KopsArgs::parse(&args);
            let got = [
                k.repeatable(),
                k.changes_cluster(),
                k.allowed_in_isolation(),
                k.writes_registry(),
            ];
            assert_eq!(&got, want, "kops {line}");
        }
    }

    const ROLLING: &str = "NAME\t\t\t\tSTATUS\t\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX\tNODES
master-us-test-1a\tNeedsUpdate\t1\t\t0\t1\t1\t1\t1
nodes\t\t\t\tReady\t\t0\t\t2\t2\t2\t2\t2

Must specify --yes to rolling-update.
";

    #[test]
    fn rolling_update_table() {
        let groups = parse_rolling_update(ROLLING).unwrap().unwrap();
        assert_eq!(groups.len(), 2);
        assert!(groups[0].needs_update());
        assert_eq!(groups[0].nodes, Some(1));
        assert!(!groups[1].needs_update());
        assert_eq!(groups[1].min, 2);
    }

    #[test]
    fn rolling_update_without_nodes_column_and_no_table() {
        let text = "NAME STATUS NEEDUPDATE READY MIN TARGET MAX\nnodes Ready 0 2 2 2 2\n";
        let groups = parse_rolling_update(text).unwrap().unwrap();
        assert_eq!(groups[0].nodes, None);
        assert!(parse_rolling_update("No rolling-update required.\n").is_none());
        assert!(
            parse_rolling_update("NAME STATUS NEEDUPDATE\nx Ready many\n")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn delete_listing() {
        let text = "TYPE\t\t\tNAME\t\t\tID
autoscaling-config\tnodes.c.example.com\tlt-123
volume\t\t\ta.etcd-main.c.example.com\tvol-1

Must specify --yes to delete cluster
";
        let resources = parse_delete_listing(text).unwrap();
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[1].kind, "volume");
        assert_eq!(resources[1].id, "vol-1");
        assert!(parse_delete_listing("nothing\n").unwrap().is_empty());
    }

    #[test]
    fn feature_flags_are_read_as_kops_reads_them() {
        let flag = |text| feature_flag(text, "TerraformManagedFiles");
        assert_eq!(flag("-TerraformManagedFiles"), Some(false));
        assert_eq!(flag(" +Foo , -TerraformManagedFiles "), Some(false));
        assert_eq!(
            flag("-TerraformManagedFiles,TerraformManagedFiles"),
            Some(true)
        );
        assert_eq!(flag("+TerraformManagedFiles"), Some(true));
        assert_eq!(flag("Foo,-TerraformManagedFilesX"), None);
        assert_eq!(flag(""), None);
    }

    #[test]
    fn the_files_provider_is_found_where_kops_writes_it() {
        let ours = "provider \"aws\" {\n  region = \"us-test-1\"\n}\n\nprovider \"aws\" {\n  alias  = \"files\"\n  region = \"us-test-1\"\n}\n";
        assert!(declares_files_provider(ours));
        assert!(!declares_files_provider(
            "provider \"aws\" {\n  region = \"us-test-1\"\n}\n\nresource \"aws_s3_object\" \"x\" {\n  alias = \"files\"\n}\n"
        ));
        assert!(!declares_files_provider(
            "provider \"google\" {\n  alias = \"files\"\n}\n"
        ));
        // The real kops output of the fixtures (minimal, HA, complex) all have it.
        for dir in ["minimal-aws", "ha", "complex"] {
            let path = format!(
                "{}/../shared/fixtures/kops/{dir}/kubernetes.tf",
                env!("CARGO_MANIFEST_DIR")
            );
            if let Ok(text) = std::fs::read_to_string(&path) {
                assert!(declares_files_provider(&text), "{dir}");
                let without = text
                    .replace("  alias  = \"files\"\n", "")
                    .replace("  alias   = \"files\"\n", "");
                assert!(!declares_files_provider(&without), "{dir}");
            }
        }
    }

    #[test]
    fn versions_are_read_as_kops_prints_them() {
        assert_eq!(
            parse_version("Client version: 1.30.1 (git-v1.30.1)\n").as_deref(),
            Some("1.30.1")
        );
        assert_eq!(
            parse_version("Client version: 1.37.0-alpha.1\n").as_deref(),
            Some("1.37.0-alpha.1")
        );
        assert_eq!(parse_version("1.34.1\n").as_deref(), Some("1.34.1"));
        assert_eq!(parse_version("kops is great 1.2\n"), None);
        assert_eq!(parse_version("Client version: banana\n"), None);
    }
}
