//! The shapes serde reads a resource change into (`resource_changes[]`, `resource_drift[]`), its
//! values as `V`: shared by the streaming reader (`stream`), the quick reader (`quick`) and the
//! passes over them, below all of them.

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub(super) struct RawResourceChange<V = Value> {
    #[serde(default)]
    pub(super) address: String,
    pub(super) previous_address: Option<String>,
    pub(super) module_address: Option<String>,
    pub(super) mode: Option<String>,
    #[serde(rename = "type", default)]
    pub(super) resource_type: String,
    #[serde(default)]
    pub(super) name: String,
    pub(super) index: Option<Value>,
    pub(super) deposed: Option<String>,
    #[serde(default)]
    pub(super) change: RawChange<V>,
    pub(super) action_reason: Option<String>,
}

/// A change; its marker trees are small and always read, its values as `V` (see [`Item`]).
#[derive(Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub(super) struct RawChange<V = Value> {
    #[serde(default)]
    pub(super) actions: Vec<String>,
    pub(super) before: Option<V>,
    pub(super) after: Option<V>,
    pub(super) after_unknown: Option<Value>,
    pub(super) before_sensitive: Option<Value>,
    pub(super) after_sensitive: Option<Value>,
    pub(super) replace_paths: Option<Vec<Vec<Value>>>,
    pub(super) importing: Option<RawImporting>,
}

impl<V> Default for RawChange<V> {
    fn default() -> Self {
        RawChange {
            actions: Vec::new(),
            before: None,
            after: None,
            after_unknown: None,
            before_sensitive: None,
            after_sensitive: None,
            replace_paths: None,
            importing: None,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct RawImporting {
    pub(super) id: Option<String>,
}
