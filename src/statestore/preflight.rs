//! The isolated dry run's pre-flight: refuse, before kops runs, anything that would make kops write
//! to the live cluster state.
//!
//! kops keeps its keys, secrets and SSH keys under `spec.configBase` (or `spec.keyStore` /
//! `spec.secretStore`), never under `--state`, so a snapshot given as `--state` does not stop those
//! writes. `kops update cluster --target terraform` still creates a CA keyset or a legacy token
//! when it is missing or stored in a legacy format, `--ssh-public-key` and `SSHCredential`
//! documents are written unconditionally, and `-TerraformManagedFiles` makes kops write its managed
//! files itself. docs/dryrun-isolation.md has the kops sources; this module checks each of them
//! read-only, so the refusal comes before any write and never after kops's ten-minute retry loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::Value;

use crate::error::UserError;
use crate::render::manifest::API_VERSION;
use crate::statestore::store::{self, Aws, Store};
use crate::tools::kops::KopsArgs;
use crate::tools::process::Output;

/// The legacy tokens kops creates in the secret store when missing.
/// kops: pkg/tokens/wellknown.go (GetKubernetesAuthTokens_Deprecated), pkg/model/pki.go.
pub(crate) const LEGACY_TOKENS: &[&str] = &[
    "kubelet",
    "kube-proxy",
    "system:scheduler",
    "system:controller_manager",
    "system:logging",
    "system:monitoring",
    "system:dns",
    "kube",
    "admin",
];

/// The CA keysets `kops update cluster` creates when missing, for a Cluster's spec.
/// kops: pkg/model/pki.go (kubernetes-ca, discovery-ca with a discovery service URL,
/// apiserver-aggregator-ca, service-account) and pkg/model/components/etcdmanager/model.go (per
/// etcd cluster `etcd-manager-ca-<name>` and `etcd-peers-ca-<name>`, the shared `etcd-clients-ca`,
/// and `etcd-clients-ca-cilium` for an etcd cluster named `cilium`).
pub(crate) fn keyset_names(spec: &Value) -> Vec<String> {
    let mut names = vec!["kubernetes-ca".to_string()];
    if spec
        .get("serviceAccountIssuerDiscovery")
        .and_then(|s| s.get("discoveryService"))
        .and_then(|d| d.get("url"))
        .and_then(Value::as_str)
        .is_some_and(|u| !u.is_empty())
    {
        names.push("discovery-ca".into());
    }
    names.push("apiserver-aggregator-ca".into());
    names.push("service-account".into());
    let etcd: Vec<String> = spec
        .get("etcdClusters")
        .and_then(Value::as_sequence)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for name in &etcd {
        names.push(format!("etcd-manager-ca-{name}"));
        names.push(format!("etcd-peers-ca-{name}"));
    }
    if !etcd.is_empty() {
        names.push("etcd-clients-ca".into());
    }
    if etcd.iter().any(|n| n == "cilium") {
        names.push("etcd-clients-ca-cilium".into());
    }
    names
}

/// The older names kops still reads a keyset from, and then rewrites under the new name.
/// kops: upup/pkg/fi/vfs_keystorereader.go (legacyKeysetMappings).
fn legacy_keyset_name(name: &str) -> Option<&'static str> {
    match name {
        "service-account" => Some("master"),
        "kubernetes-ca" => Some("ca"),
        _ => None,
    }
}

/// Where a Cluster keeps what kops writes outside the registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stores {
    pub(crate) key_store: String,
    pub(crate) secret_store: String,
}

impl Stores {
    /// `spec.keyStore` / `spec.secretStore` when set, else `<configBase>/pki` and
    /// `<configBase>/secrets` (kops: pkg/client/simple/vfsclientset/clientset.go, pkiPath and
    /// SecretStore; pkg/apis/kops/registry/registry.go ConfigBase).
    pub(crate) fn of(spec: &Value, config_base: &str) -> Stores {
        let field = |name: &str| {
            spec.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| s.trim_end_matches('/').to_string())
        };
        let base = config_base.trim_end_matches('/');
        Stores {
            key_store: field("keyStore").unwrap_or_else(|| format!("{base}/pki")),
            secret_store: field("secretStore").unwrap_or_else(|| format!("{base}/secrets")),
        }
    }
}

/// What the live key store holds: keyset name -> the apiVersion of its `keyset.yaml`, and the SSH
/// public keys (their type and key fields).
#[derive(Debug, Default)]
pub(crate) struct KeyStore {
    pub(crate) keysets: BTreeMap<String, String>,
    pub(crate) ssh_keys: BTreeSet<String>,
}

/// One write kops would make to the live state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub(crate) what: String,
    pub(crate) path: String,
}

/// Reads (never writes) the live key and secret stores, once per location per run.
pub(crate) struct Inspector {
    aws: Aws,
    project_dir: std::path::PathBuf,
    key_stores: BTreeMap<String, KeyStore>,
    secret_stores: BTreeMap<String, BTreeSet<String>>,
}

impl Inspector {
    pub(crate) fn new(aws: &Aws, project_dir: &Path) -> Inspector {
        Inspector {
            aws: aws.clone(),
            project_dir: project_dir.to_path_buf(),
            key_stores: BTreeMap::new(),
            secret_stores: BTreeMap::new(),
        }
    }

    fn location(&self, path: &str, what: &str) -> Result<Store, UserError> {
        Store::parse(path, &self.project_dir).map_err(|e| {
            UserError::new(format!(
                "refusing the isolated run: cannot check the {what} {path} before kops writes to it ({})",
                e.message
            ))
        })
    }

    pub(crate) fn key_store(&mut self, path: &str) -> Result<&KeyStore, UserError> {
        if !self.key_stores.contains_key(path) {
            let store = self.location(path, "key store")?;
            let read = read_key_store(&store, &self.aws)?;
            self.key_stores.insert(path.to_string(), read);
        }
        Ok(&self.key_stores[path])
    }

    pub(crate) fn secret_store(&mut self, path: &str) -> Result<&BTreeSet<String>, UserError> {
        if !self.secret_stores.contains_key(path) {
            let store = self.location(path, "secret store")?;
            let names = list_names(&store, &self.aws)?;
            self.secret_stores.insert(path.to_string(), names);
        }
        Ok(&self.secret_stores[path])
    }

    /// The keysets and tokens `kops update cluster` would create or rewrite for this Cluster spec.
    pub(crate) fn cluster_writes(
        &mut self,
        spec: &Value,
        config_base: &str,
    ) -> Result<Vec<Write>, UserError> {
        let stores = Stores::of(spec, config_base);
        let mut writes = Vec::new();
        if let Ok(Store::Local(_)) = Store::parse(config_base, &self.project_dir) {
            // kops: upup/pkg/fi/fitasks/managedfile.go (RenderTerraform): only an S3 path can
            // become an aws_s3_object; kops fails on any other, and the offline kops double
            // writes the managed files itself.
            writes.push(Write {
                what: "spec.configBase is a local folder: kops cannot turn its managed files (cluster-completed.spec, igconfig/, addons/) into aws_s3_object resources there, so they would be written (by kops, they fail) in place".into(),
                path: config_base.to_string(),
            });
        }
        let keys = self.key_store(&stores.key_store)?;
        for name in keyset_names(spec) {
            let path = format!("{}/private/{name}/keyset.yaml", stores.key_store);
            match keys.keysets.get(&name) {
                Some(version) if version == API_VERSION => {}
                Some(version) => writes.push(Write {
                    what: format!(
                        "keyset `{name}` is stored as {version}; kops rewrites it as {API_VERSION}"
                    ),
                    path,
                }),
                None => match legacy_keyset_name(&name).filter(|l| keys.keysets.contains_key(*l)) {
                    Some(legacy) => writes.push(Write {
                        what: format!(
                            "keyset `{name}` exists only under its old name `{legacy}`; kops rewrites it under the new name"
                        ),
                        path,
                    }),
                    None => writes.push(Write {
                        what: format!(
                            "keyset `{name}` is missing; kops would issue a new CA{}",
                            if name.starts_with("etcd-") {
                                " (a new etcd cluster?)"
                            } else {
                                ""
                            }
                        ),
                        path,
                    }),
                },
            }
        }
        let secrets = self.secret_store(&stores.secret_store)?;
        for token in LEGACY_TOKENS {
            if !secrets.contains(*token) {
                writes.push(Write {
                    what: format!("legacy token `{token}` is missing; kops would create it"),
                    path: format!("{}/{token}", stores.secret_store),
                });
            }
        }
        Ok(writes)
    }

    /// The SSH public keys of `SSHCredential` documents that the live key store does not hold.
    pub(crate) fn new_ssh_keys(
        &mut self,
        spec: &Value,
        config_base: &str,
        public_keys: &[String],
    ) -> Result<Vec<Write>, UserError> {
        let stores = Stores::of(spec, config_base);
        let keys = self.key_store(&stores.key_store)?;
        Ok(public_keys
            .iter()
            .filter(|k| !keys.ssh_keys.contains(&ssh_key_id(k)))
            .map(|k| Write {
                what: format!(
                    "SSHCredential with the new key `{}`; kops replace writes it to the key store",
                    short_key(k)
                ),
                path: format!("{}/ssh/public/admin/", stores.key_store),
            })
            .collect())
    }
}

/// The type and key fields of an OpenSSH public key line, without its comment.
fn ssh_key_id(key: &str) -> String {
    key.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn short_key(key: &str) -> String {
    let id = ssh_key_id(key);
    match id.split_once(' ') {
        Some((kind, blob)) if blob.chars().count() > 16 => {
            let tail: String = blob.chars().skip(blob.chars().count() - 12).collect();
            format!("{kind} ...{tail}")
        }
        _ => id,
    }
}

/// The refusal, listing every write.
pub(crate) fn refusal(command: &str, writes: &[Write]) -> UserError {
    let mut text = format!(
        "refusing the isolated dry run: {command} would write to the live cluster state, which a dry run never does:"
    );
    for w in writes {
        text.push_str(&format!("\n  - {}: {}", w.what, w.path));
    }
    text.push_str(
        "\nThis change cannot be previewed without writing live; review it by hand, and the real cluster-update after merge makes these writes (docs/dryrun-isolation.md)",
    );
    UserError::new(text)
}

/// Reads the key store: keyset names with their apiVersion, and the SSH public keys. The private
/// keys in the keysets are fetched into a private temporary folder that is removed right away.
fn read_key_store(store: &Store, aws: &Aws) -> Result<KeyStore, UserError> {
    let temp;
    let root = match store {
        Store::Local(path) => path.clone(),
        Store::S3 { bucket, prefix } => {
            temp = tempfile::Builder::new()
                .prefix("kopsform-keys")
                .tempdir()
                .map_err(|e| UserError::new(format!("cannot create a temporary folder: {e}")))?;
            let source = format!("s3://{bucket}/{}", Store::key(prefix, ""));
            let dest = temp.path().to_string_lossy().into_owned();
            let args = vec![
                "s3",
                "cp",
                "--recursive",
                &source,
                &dest,
                "--exclude",
                "*",
                "--include",
                "private/*/keyset.yaml",
                "--include",
                "ssh/public/admin/*",
                "--only-show-errors",
            ];
            aws_read(aws, &args, &source)?;
            temp.path().to_path_buf()
        }
    };
    let mut keys = KeyStore::default();
    if let Ok(entries) = std::fs::read_dir(root.join("private")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(text) = std::fs::read_to_string(entry.path().join("keyset.yaml")) else {
                continue;
            };
            // Only the header is kept; the key material is dropped with the text.
            let version = serde_yaml::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("apiVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "an unreadable keyset.yaml".into());
            keys.keysets.insert(name, version);
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("ssh/public/admin")) {
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                keys.ssh_keys.insert(ssh_key_id(&text));
            }
        }
    }
    Ok(keys)
}

/// The names of the objects directly in a store (the secret store is flat).
fn list_names(store: &Store, aws: &Aws) -> Result<BTreeSet<String>, UserError> {
    match store {
        Store::Local(path) => Ok(std::fs::read_dir(path)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().is_file())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()),
        Store::S3 { bucket, prefix } => {
            let key_prefix = Store::key(prefix, "");
            let objects = store::list_objects(aws, bucket, &key_prefix).map_err(|e| {
                UserError::new(format!(
                    "refusing the isolated run: {}, so it cannot check what kops would write there",
                    e.message
                ))
            })?;
            Ok(objects
                .into_iter()
                .filter_map(|(k, _)| k.strip_prefix(&key_prefix).map(str::to_string))
                .filter(|k| !k.is_empty() && !k.contains('/'))
                .collect())
        }
    }
}

fn aws_read(aws: &Aws, args: &[&str], what: &str) -> Result<Vec<u8>, UserError> {
    let Output {
        code,
        stdout,
        stderr,
    } = store::aws(aws, args)?;
    if code != 0 {
        return Err(UserError::new(format!(
            "refusing the isolated run: cannot read {what} to check what kops would write there: `{aws} {}` failed with status {code}: {}",
            args[..2].join(" "),
            stderr.trim()
        )));
    }
    Ok(stdout)
}

/// What kops commands an isolated run allows, before any store is read: the ones that write only
/// to `--state` (which must be the snapshot) or nowhere.
pub(crate) fn check_command(
    args: &KopsArgs,
    snapshot: &str,
    feature_flags: Option<&str>,
) -> Result<(), UserError> {
    let first = args.verb();
    let command = args.command();
    if !args.allowed_in_isolation() {
        return Err(UserError::new(format!(
            "refusing the isolated dry run: {command} can write to the live key store, secret store or cloud; an isolated run allows replace, create -f, update cluster --target terraform, rolling-update (without --yes), get, validate, export, version and toolbox dump/template"
        )));
    }
    if args.ssh_public_key {
        return Err(UserError::new(format!(
            "refusing the isolated dry run: {command} --ssh-public-key writes the key to the live key store, whatever the target (kops: cmd/kops/update_cluster.go); add the key with an SSHCredential in the manifest after merge"
        )));
    }
    if args.yes && !(first == "update" && args.target.as_deref() == Some("terraform")) {
        return Err(UserError::new(format!(
            "refusing the isolated dry run: {command} --yes changes the live cluster; a dry run never passes --yes (except to update cluster --target terraform)"
        )));
    }
    if first == "update" && args.target.as_deref().is_some_and(|t| t != "terraform") {
        return Err(UserError::new(format!(
            "refusing the isolated dry run: {command} --target {} is not the terraform target",
            args.target.as_deref().unwrap_or_default()
        )));
    }
    if first == "update"
        && let Some(flags) = feature_flags
        && flags
            .split(',')
            .any(|f| f.trim() == "-TerraformManagedFiles")
    {
        return Err(UserError::new(format!(
            "refusing the isolated dry run: KOPS_FEATURE_FLAGS has -TerraformManagedFiles, with which {command} writes its managed files straight to the live configBase (kops: pkg/featureflag/featureflag.go, upup/pkg/fi/fitasks/managedfile.go); unset it for the dry run"
        )));
    }
    if args.writes_registry()
        && let Some(state) = &args.state
        && state.trim_end_matches('/') != snapshot.trim_end_matches('/')
    {
        return Err(UserError::new(format!(
            "refusing the isolated dry run: {command} --state {state} is not the snapshot {snapshot}; use --state {{{{cluster.state}}}}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> Aws {
        Aws::new("aws".into(), crate::tools::retry::Policy::defaults())
    }

    fn spec(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn keysets_follow_the_etcd_clusters_and_discovery() {
        let s = spec(
            "etcdClusters: [{name: main}, {name: events}, {name: cilium}]\nserviceAccountIssuerDiscovery: {discoveryService: {url: https://d}}\n",
        );
        assert_eq!(
            keyset_names(&s),
            [
                "kubernetes-ca",
                "discovery-ca",
                "apiserver-aggregator-ca",
                "service-account",
                "etcd-manager-ca-main",
                "etcd-peers-ca-main",
                "etcd-manager-ca-events",
                "etcd-peers-ca-events",
                "etcd-manager-ca-cilium",
                "etcd-peers-ca-cilium",
                "etcd-clients-ca",
                "etcd-clients-ca-cilium",
            ]
        );
        assert_eq!(keyset_names(&spec("{}")).len(), 3);
    }

    #[test]
    fn stores_follow_key_store_secret_store_and_config_base() {
        let s = spec("keyStore: s3://k/pki/\n");
        assert_eq!(
            Stores::of(&s, "s3://b/c/"),
            Stores {
                key_store: "s3://k/pki".into(),
                secret_store: "s3://b/c/secrets".into()
            }
        );
    }

    fn local_store(dir: &Path, keysets: &[(&str, &str)], tokens: &[&str], ssh: &[&str]) {
        for (name, version) in keysets {
            let d = dir.join("pki/private").join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(
                d.join("keyset.yaml"),
                format!("apiVersion: {version}\nkind: Keyset\n"),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.join("secrets")).unwrap();
        for t in tokens {
            std::fs::write(dir.join("secrets").join(t), "{}").unwrap();
        }
        let d = dir.join("pki/ssh/public/admin");
        std::fs::create_dir_all(&d).unwrap();
        for (i, k) in ssh.iter().enumerate() {
            std::fs::write(d.join(format!("fp{i}")), k).unwrap();
        }
    }

    #[test]
    fn a_complete_store_needs_no_write_and_each_gap_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_string_lossy().into_owned();
        let s = spec("etcdClusters: [{name: main}]\n");
        let all: Vec<(String, &str)> = keyset_names(&s)
            .into_iter()
            .map(|n| (n, API_VERSION))
            .collect();
        let all: Vec<(&str, &str)> = all.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        local_store(
            dir.path(),
            &all,
            LEGACY_TOKENS,
            &["ssh-rsa AAAAB3Nz key@host\n"],
        );
        let mut inspector = Inspector::new(&aws(), dir.path());
        let writes = inspector.cluster_writes(&s, &base).unwrap();
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert!(
            writes[0]
                .what
                .starts_with("spec.configBase is a local folder")
        );
        // The same store named by keyStore / secretStore, with an S3 configBase: nothing to write.
        let stores = spec(&format!(
            "etcdClusters: [{{name: main}}]\nkeyStore: {base}/pki\nsecretStore: {base}/secrets\n"
        ));
        assert_eq!(
            inspector.cluster_writes(&stores, "s3://live/c").unwrap(),
            vec![]
        );
        assert!(
            inspector
                .new_ssh_keys(&s, &base, &["ssh-rsa AAAAB3Nz other-comment".into()])
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            inspector
                .new_ssh_keys(
                    &s,
                    &base,
                    &["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAnew x".into()]
                )
                .unwrap()
                .len(),
            1
        );

        // A new etcd cluster, a legacy CA, a missing token.
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().to_string_lossy().into_owned();
        let mut some = all.clone();
        some.retain(|(n, _)| *n != "kubernetes-ca" && *n != "service-account");
        some.push(("ca", API_VERSION));
        some.push(("service-account", "kops.k8s.io/v1alpha1"));
        local_store(dir.path(), &some, &LEGACY_TOKENS[1..], &[]);
        let s = spec(&format!(
            "etcdClusters: [{{name: main}}, {{name: events}}]\nkeyStore: {base}/pki\nsecretStore: {base}/secrets\n"
        ));
        let writes = Inspector::new(&aws(), dir.path())
            .cluster_writes(&s, "s3://live/c")
            .unwrap();
        let text: Vec<String> = writes.iter().map(|w| w.what.clone()).collect();
        assert_eq!(writes.len(), 5, "{text:#?}");
        assert!(text[0].contains("`kubernetes-ca` exists only under its old name `ca`"));
        assert!(text[1].contains("`service-account` is stored as kops.k8s.io/v1alpha1"));
        assert!(text[2].contains("`etcd-manager-ca-events` is missing"));
        assert!(text[4].contains("legacy token `kubelet`"));
        assert!(
            writes[2]
                .path
                .ends_with("pki/private/etcd-manager-ca-events/keyset.yaml")
        );
    }

    fn args(line: &str) -> KopsArgs {
        KopsArgs::parse(
            &line
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn keys_are_shortened_by_characters() {
        assert_eq!(short_key("ssh-rsa AAAA"), "ssh-rsa AAAA");
        let odd = format!("ssh-ed25519 {}", "é".repeat(20));
        assert_eq!(
            short_key(&odd),
            format!("ssh-ed25519 ...{}", "é".repeat(12))
        );
    }

    #[test]
    fn commands_are_parsed() {
        let a = args("update cluster --name c --state=/s --target terraform --yes -i k.pub");
        assert_eq!(a.verbs, ["update", "cluster"]);
        assert_eq!(a.state.as_deref(), Some("/s"));
        assert_eq!(a.target.as_deref(), Some("terraform"));
        assert!(a.yes && a.ssh_public_key);
        assert!(!args("rolling-update cluster --yes=false").yes);
        assert_eq!(args("replace --force -f m.yml").files, ["m.yml"]);
    }

    #[test]
    fn only_commands_that_cannot_write_live_are_allowed() {
        let ok = |line: &str| check_command(&args(line), "/snap", None).is_ok();
        assert!(ok("replace --force -f m.yml --state /snap"));
        assert!(ok(
            "update cluster --state /snap/ --target terraform --out d --create-kube-config=false"
        ));
        assert!(ok("rolling-update cluster --name c"));
        assert!(ok("get instancegroups"));
        assert!(!ok("rolling-update cluster --yes"));
        assert!(!ok("update cluster --yes"));
        assert!(!ok("update cluster --target direct"));
        assert!(!ok(
            "update cluster --target terraform --ssh-public-key k.pub"
        ));
        assert!(!ok("replace -f m.yml --state s3://live"));
        assert!(!ok("create secret sshpublickey admin -i k"));
        assert!(!ok("delete cluster --name c"));
        assert!(!ok("toolbox enroll"));
        let flags = |f: &str| check_command(&args("update cluster"), "/snap", Some(f)).is_ok();
        assert!(!flags("Foo, -TerraformManagedFiles"));
        assert!(flags("+TerraformManagedFiles"));
    }
}
