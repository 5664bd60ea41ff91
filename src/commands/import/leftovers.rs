//! kops's leftovers in the documents it prints (timestamps, generation, status, the default
//! `spec.configBase`), dropped before the template is made. In: a document. Out: the document
//! without them, and what was dropped.

use serde_yaml::Value as Yaml;

use crate::project::Project;
use crate::render::manifest::kind;

/// The spellings of kops's default `spec.configBase`, `<state>/<name>`.
pub(super) fn default_config_bases(project: &Project, state: &str, name: &str) -> Vec<String> {
    let state = state.trim_end_matches('/');
    let mut bases = vec![format!("{state}/{name}")];
    if let Ok(crate::statestore::store::Store::Local(dir)) =
        crate::statestore::store::Store::parse(state, &project.dir)
    {
        let dir = dir.display().to_string();
        bases.push(format!("{dir}/{name}"));
        bases.push(format!("file://{dir}/{name}"));
    }
    bases
}

/// Drops what kops adds to a stored object: `metadata.creationTimestamp`, `generation`, `uid`,
/// `resourceVersion`, `status`, and a Cluster's `spec.configBase` when it is one of
/// `default_config_bases`. Returns what was dropped.
pub(crate) fn clean(document: &mut Yaml, default_config_bases: &[String]) -> Vec<String> {
    let mut dropped = Vec::new();
    let is_cluster = kind(document) == "Cluster";
    let Some(map) = document.as_mapping_mut() else {
        return dropped;
    };
    if map.shift_remove("status").is_some() {
        dropped.push("status".to_string());
    }
    if let Some(metadata) = map.get_mut("metadata").and_then(Yaml::as_mapping_mut) {
        for key in ["creationTimestamp", "generation", "uid", "resourceVersion"] {
            if metadata.shift_remove(key).is_some() {
                dropped.push(format!("metadata.{key}"));
            }
        }
    }
    if is_cluster && let Some(spec) = map.get_mut("spec").and_then(Yaml::as_mapping_mut) {
        let base = spec
            .get("configBase")
            .and_then(Yaml::as_str)
            .map(|b| b.trim_end_matches('/').to_string());
        if let Some(base) = base
            && default_config_bases.contains(&base)
        {
            spec.shift_remove("configBase");
            dropped.push("spec.configBase (kops's default, <state>/<name>)".to_string());
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::import::fixtures::CLUSTER;
    use crate::commands::import::kops::parse_documents;

    #[test]
    fn only_the_default_config_base_is_dropped() {
        let mut doc = parse_documents(CLUSTER).unwrap().remove(0);
        let dropped = clean(&mut doc, &["s3://other/c.example.com".to_string()]);
        assert!(doc["spec"]["configBase"].is_string());
        assert!(!dropped.iter().any(|d| d.contains("configBase")));
        assert!(doc.get("status").is_none());
        // Order is kept (kops's sorted keys stay sorted).
        let keys: Vec<&str> = doc["spec"]
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(keys[..2], ["configBase", "keyStore"]);
    }
}
