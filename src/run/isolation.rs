//! Isolated dry runs: the state-store snapshot a `snapshot-state` step switches the run to, and
//! the pre-flight that refuses, before kops runs, what kops would write to the live stores.

use std::path::Path;

use crate::atomic;
use crate::error::UserError;
use crate::render::manifest;
use crate::statestore::preflight;

use super::scope::{Runner, Snapshot, env_value};

/// The live cluster's configBase: the one in the snapshot's copy of its `config`, else kops's
/// default `<state>/<name>`.
pub(super) fn live_config_base(snapshot: &Snapshot, cluster: &str) -> String {
    stored_spec(snapshot, cluster)
        .as_ref()
        .and_then(manifest::config_base)
        .map_or_else(
            || default_config_base(&snapshot.live_state, cluster),
            str::to_string,
        )
}

/// The spec of the Cluster as the snapshot holds it.
pub(super) fn stored_spec(snapshot: &Snapshot, cluster: &str) -> Option<serde_yaml::Value> {
    let text =
        std::fs::read_to_string(Path::new(&snapshot.path).join(cluster).join("config")).ok()?;
    serde_yaml::from_str::<serde_yaml::Value>(&text)
        .ok()?
        .get("spec")
        .cloned()
}

/// kops's configBase for a Cluster stored without one: `<state>/<name>`.
pub(super) fn default_config_base(state: &str, cluster: &str) -> String {
    format!("{}/{cluster}", state.trim_end_matches('/'))
}

/// Sets `spec.configBase` in a snapshot's copy of the Cluster when it has none. Returns whether it
/// did.
pub(super) fn pin_config_base(config: &Path, live: &str) -> Result<bool, UserError> {
    let Ok(text) = std::fs::read_to_string(config) else {
        return Ok(false);
    };
    let mut value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        UserError::new(format!(
            "{}: the stored Cluster is not YAML: {e}",
            config.display()
        ))
    })?;
    let Some(spec) = value
        .get_mut("spec")
        .and_then(serde_yaml::Value::as_mapping_mut)
    else {
        return Ok(false);
    };
    if spec.contains_key("configBase") {
        return Ok(false);
    }
    spec.insert("configBase".into(), live.into());
    let text = serde_yaml::to_string(&value).map_err(|e| UserError::new(e.to_string()))?;
    atomic::write(config, text.as_bytes(), 0o600)?;
    Ok(true)
}

impl<'p> Runner<'p> {
    pub(super) fn inspector(&mut self) -> &mut preflight::Inspector {
        let aws = crate::statestore::store::Aws::of(self.project, self.cluster.as_ref());
        let dir = self.project.dir.clone();
        self.inspector
            .get_or_insert_with(|| preflight::Inspector::new(&aws, &dir))
    }

    /// Refuses a Cluster spec for which `kops update cluster` would create or rewrite keysets or
    /// tokens in the live stores (the inspector reads each store once per run).
    pub(super) fn preflight_cluster(
        &mut self,
        command: &str,
        spec: &serde_yaml::Value,
        config_base: &str,
    ) -> Result<(), UserError> {
        let writes = self.inspector().cluster_writes(spec, config_base)?;
        if writes.is_empty() {
            Ok(())
        } else {
            Err(preflight::refusal(command, &writes))
        }
    }

    /// The pre-flight of a manifest rendered for an isolated run: its SSH keys must already be in
    /// the live key store (then the documents are left out), and kops must find every keyset and
    /// token it needs.
    pub(super) fn preflight_manifest(
        &mut self,
        out: &str,
        documents: &[manifest::Document],
        config_base: &str,
    ) -> Result<(), UserError> {
        let empty = serde_yaml::Value::Mapping(Default::default());
        let spec = manifest::cluster_spec(documents);
        let keys: Vec<String> = documents
            .iter()
            .filter(|d| d.kind == "SSHCredential")
            .filter_map(|d| {
                d.value
                    .get("spec")
                    .and_then(|s| s.get("publicKey"))
                    .and_then(serde_yaml::Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        if !keys.is_empty() {
            let writes =
                self.inspector()
                    .new_ssh_keys(spec.unwrap_or(&empty), config_base, &keys)?;
            if !writes.is_empty() {
                return Err(preflight::refusal(
                    &format!("`kops replace -f {out}`"),
                    &writes,
                ));
            }
        }
        if documents.iter().any(|d| d.kind == "Cluster") {
            self.preflight_cluster("`kops update cluster`", spec.unwrap_or(&empty), config_base)?;
        }
        Ok(())
    }

    /// The pre-flight of a kops command in an isolated run: only commands that cannot write live,
    /// and, for `replace`/`create -f` and `update`, the stores kops would write to checked first.
    pub(super) fn preflight_kops(
        &mut self,
        snapshot: &Snapshot,
        args: &[String],
        cwd: &Path,
        env: &[(String, String)],
    ) -> Result<(), UserError> {
        let parsed = crate::tools::kops::KopsArgs::parse(args);
        let flags = env_value(env, "KOPS_FEATURE_FLAGS");
        preflight::check_command(&parsed, &snapshot.path, flags.as_deref())?;
        if !parsed.writes_registry() {
            return Ok(());
        }
        let cluster = self.require_cluster()?;
        let stored = stored_spec(snapshot, &cluster.name);
        let live = stored.as_ref().and_then(manifest::config_base).map_or_else(
            || default_config_base(&snapshot.live_state, &cluster.name),
            str::to_string,
        );
        if parsed.verb() == "update" {
            if let Some(spec) = &stored {
                self.preflight_cluster("`kops update cluster`", spec, &live)?;
            }
            return Ok(());
        }
        for file in &parsed.files {
            let Ok(text) = std::fs::read_to_string(cwd.join(file)) else {
                continue; // kops reports the missing file itself
            };
            let documents = manifest::parse_loose(&text);
            if documents.iter().any(|d| d.kind == "SSHCredential") {
                return Err(UserError::new(format!(
                    "refusing the isolated dry run: {file} has SSHCredential documents, which kops replace writes to the live key store even when unchanged; render it with a `render` step of this run, which leaves out the keys the store already holds"
                )));
            }
            let config_base = manifest::cluster_spec(&documents)
                .and_then(manifest::config_base)
                .unwrap_or(&live)
                .to_string();
            self.preflight_manifest(file, &documents, &config_base)?;
        }
        Ok(())
    }
}
