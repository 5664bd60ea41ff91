//! Test fixtures of the import: one cluster's outputs and kops documents, and a `Case` that
//! imports them and renders the template back.

use serde_json::{Value as Json, json};

use crate::render::template::Renderer;
use crate::values::outputs::Outputs;

use super::kops::parse_documents;
use super::references::Input;
use super::template::{Imported, build};

pub(super) const OUTPUTS: &str = r#"{
      "azs": {"sensitive": false, "type": ["list", "string"], "value": ["eu-west-1a", "eu-west-1b"]},
      "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"},
      "master_azs": {"sensitive": false, "type": ["list", "string"], "value": ["eu-west-1a"]},
      "odd": {"sensitive": false, "type": "string", "value": "say \"hi\"\\now"},
      "subnet_ids": {"sensitive": false, "type": ["map", "string"], "value": {"eu-west-1a": "subnet-a", "eu-west-1b": "subnet-b"}},
      "token": {"sensitive": true, "type": "string", "value": "t0ps3cret-value"},
      "vpc_id": {"sensitive": false, "type": "string", "value": "vpc-123"}
    }"#;

pub(super) const CLUSTER: &str = r#"apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  creationTimestamp: "2024-01-02T03:04:05Z"
  generation: 3
  name: c.example.com
spec:
  configBase: s3://state/c.example.com
  keyStore: s3://state/keys/c.example.com
  masterPublicName: api.c.example.com
  networkID: vpc-123
  note: "literal {{braces}} and \\{{ escaped }}"
  odd: "say \"hi\"\\now"
  hooks:
  - name: with-token
    manifest: "Environment=TOKEN=t0ps3cret-value"
  subnets:
  - id: subnet-a
    name: eu-west-1a
    zone: eu-west-1a
  - id: subnet-b
    name: eu-west-1b
    zone: eu-west-1b
  token: t0ps3cret-value
status:
  ready: true
"#;

pub(super) const GROUP: &str = r#"apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  creationTimestamp: "2024-01-02T03:04:05Z"
  labels:
    kops.k8s.io/cluster: c.example.com
  name: nodes
spec:
  maxSize: 3
  minSize: 1
  role: Node
  subnets:
  - eu-west-1a
"#;

pub(super) struct Case {
    pub(super) outputs: Outputs,
    pub(super) context: Json,
    pub(super) allowed: Vec<String>,
}

impl Case {
    pub(super) fn new(allowed: &[&str]) -> Case {
        let outputs = crate::values::outputs::parse(OUTPUTS).unwrap();
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        let mut context = Json::Object(outputs.visible(&allowed));
        context["outputs"] = Json::Object(outputs.visible(&allowed));
        context["cluster"] = json!({"name": "c.example.com", "state": "s3://state"});
        Case {
            outputs,
            context,
            allowed,
        }
    }

    pub(super) fn import(&self) -> (Imported, String) {
        self.import_with(&["s3://state/c.example.com"])
    }

    pub(super) fn import_with(&self, config_bases: &[&str]) -> (Imported, String) {
        let input = Input {
            cluster: parse_documents(CLUSTER).unwrap(),
            groups: parse_documents(GROUP).unwrap(),
            name: "c.example.com",
            state: "s3://state",
            config_bases: config_bases.iter().map(|b| b.to_string()).collect(),
            outputs: &self.outputs,
            allowed: &self.allowed,
            context: &self.context,
        };
        let imported = build(&input).unwrap();
        let rendered = Renderer::new()
            .render("t.yml", &imported.template, &self.context)
            .unwrap_or_else(|e| panic!("{e}\n{}", imported.template));
        (imported, rendered)
    }
}
