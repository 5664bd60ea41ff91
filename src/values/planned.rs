//! The outputs a saved plan of the prerequisites layer will give once applied (`terraform show
//! -json` of the plan: `planned_values.outputs`), for a dry run that reviews the layer and the
//! cluster together: the cluster is rendered from what the layer will be, not from what it is.
//!
//! Terraform leaves `value` out of a planned output that is unknown until apply, wholly or in
//! part (a list with one new subnet's id in it): such an output is never guessed or mocked; the
//! cluster's plan is deferred ([`Deferral`]) and the review says which outputs it waits for.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::outputs::Outputs;

/// What a plan says of the layer's outputs after apply.
#[derive(Debug, Default)]
pub(crate) struct Planned {
    /// The outputs known now, as `terraform output -json` would give them after the apply.
    pub(crate) outputs: Outputs,
    /// The outputs known only after apply, in the plan's order.
    pub(crate) unknown: Vec<String>,
}

/// Why a task's remaining steps wait for the prerequisites' apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deferral {
    /// The saved plan of the prerequisites layer (as the step names it).
    pub(crate) plan: String,
    /// The layer's folder.
    pub(crate) layer: String,
    /// The outputs it leaves unknown until apply.
    pub(crate) outputs: Vec<String>,
}

impl Deferral {
    /// The reason, in words (plain text; the review escapes it where it goes).
    pub(crate) fn reason(&self) -> String {
        let names: Vec<String> = self.outputs.iter().map(|o| format!("`{o}`")).collect();
        let (noun, verb) = if self.outputs.len() == 1 {
            ("output", "is")
        } else {
            ("outputs", "are")
        };
        format!(
            "the prerequisites' {noun} {} {verb} known only after the layer {} is applied; the cluster is planned after that apply",
            names.join(", "),
            self.layer
        )
    }
}

#[derive(Deserialize)]
struct PlanJson {
    #[serde(default)]
    planned_values: Option<PlannedValues>,
    #[serde(default)]
    format_version: Option<String>,
}

#[derive(Deserialize)]
struct PlannedValues {
    #[serde(default)]
    outputs: IndexMap<String, PlannedOutput>,
}

#[derive(Deserialize)]
struct PlannedOutput {
    #[serde(default)]
    sensitive: bool,
    /// Absent when unknown until apply; `null` when known to be null (serde would read both
    /// as `None` into an `Option<Value>`).
    #[serde(default, deserialize_with = "present")]
    value: Option<Value>,
}

/// `Some(Value::Null)` for a `null` that is there, so that only a missing member is `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// Reads the planned outputs from the text of `terraform show -json PLAN`. The error says what
/// is wrong without repeating the input (a plan holds sensitive values).
pub(crate) fn parse(text: &str) -> Result<Planned, String> {
    let json = crate::tools::terraform::json_document(text.as_bytes());
    let plan: PlanJson = serde_json::from_slice(json).map_err(|e| {
        // Only where: serde's message may quote a value of the plan.
        format!(
            "not the JSON of a saved plan (`terraform show -json PLAN`): bad {} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Data => "content",
                _ => "JSON",
            },
            e.line(),
            e.column()
        )
    })?;
    if plan.format_version.is_none() {
        return Err(
            "no `format_version`: not the JSON of a saved plan (`terraform show -json PLAN`)"
                .to_string(),
        );
    }
    let mut planned = Planned::default();
    let outputs = plan.planned_values.map(|p| p.outputs).unwrap_or_default();
    for (name, output) in outputs {
        match output.value {
            None => planned.unknown.push(name),
            // `terraform output -json` leaves out an output whose value is null: so does this.
            Some(Value::Null) => {}
            Some(value) => {
                if output.sensitive {
                    planned.outputs.sensitive.insert(name.clone());
                }
                planned.outputs.values.insert(name, value);
            }
        }
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `terraform show -json` of a plan (Terraform 1.x) whose `id` is new and whose `vpc` is kept.
    const PLAN: &str = r#"{"format_version":"1.2","terraform_version":"1.11.4",
      "planned_values":{"outputs":{
        "vpc_id":{"sensitive":false,"type":"string","value":"vpc-1"},
        "subnet_ids":{"sensitive":false},
        "zones":{"sensitive":false,"type":["list","string"],"value":["a","b"]},
        "key":{"sensitive":true,"type":"string","value":"s3cr3t"},
        "gone":{"sensitive":false,"type":"string","value":null},
        "id":{"sensitive":false}
      }},
      "output_changes":{}}"#;

    #[test]
    fn known_outputs_are_read_and_unknown_ones_named_in_order() {
        let p = parse(PLAN).unwrap();
        assert_eq!(
            p.outputs.values.keys().collect::<Vec<_>>(),
            ["vpc_id", "zones", "key"]
        );
        assert_eq!(p.outputs.values["zones"], serde_json::json!(["a", "b"]));
        assert_eq!(p.outputs.sensitive.iter().collect::<Vec<_>>(), ["key"]);
        assert_eq!(p.outputs.secrets(), ["s3cr3t"]);
        assert_eq!(p.unknown, ["subnet_ids", "id"]);
    }

    #[test]
    fn a_plan_without_outputs_has_none() {
        let p = parse(r#"{"format_version":"1.2","planned_values":{"root_module":{}}}"#).unwrap();
        assert!(p.outputs.values.is_empty() && p.unknown.is_empty());
    }

    #[test]
    fn text_that_is_not_a_plan_is_refused_without_echoing_it() {
        for bad in [
            "",
            "not json s3cr3t",
            r#"{"s3cr3t": 1}"#,
            "[1,2]",
            r#"{"format_version":"1.2","planned_values":"s3cr3t"}"#,
            r#"{"format_version":"1.2","planned_values":{"outputs":{"k":{"sensitive":"s3cr3t"}}}}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{e}");
            assert!(e.contains("saved plan"), "{e}");
        }
    }

    #[test]
    fn the_reason_names_each_output_and_the_plan() {
        let one = Deferral {
            plan: ".kopsform/dryrun/prerequisites.tfplan".into(),
            layer: "1-prerequisites".into(),
            outputs: vec!["subnet_ids".into()],
        };
        assert_eq!(
            one.reason(),
            "the prerequisites' output `subnet_ids` is known only after the layer 1-prerequisites is applied; the cluster is planned after that apply"
        );
        let two = Deferral {
            plan: "p".into(),
            layer: "l".into(),
            outputs: vec!["a".into(), "b".into()],
        };
        assert!(
            two.reason()
                .starts_with("the prerequisites' outputs `a`, `b` are known")
        );
    }
}
