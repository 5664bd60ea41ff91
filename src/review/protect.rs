//! Protected resources: the rules in force (built-in and `[review] protect`), which changes
//! destroy a protected object, and the exit status that follows. A plan summary in, verdicts out.

use crate::plan::summary::{Action, PlanSummary, ResourceChange};
use crate::project::schema::{ProtectRule, ReviewConfig};

/// Exit status: the plan changes nothing.
pub(crate) const EXIT_NO_CHANGES: i32 = crate::error::exit::OK;
/// Exit status: the plan has changes.
pub(crate) const EXIT_CHANGES: i32 = crate::error::exit::CHANGES;
/// Exit status: the plan destroys or replaces a protected resource.
pub(crate) const EXIT_PROTECTED: i32 = crate::error::exit::PROTECTED;
/// Exit status: the manifest breaks a policy rule (whatever the plan changes).
pub(crate) const EXIT_POLICY: i32 = crate::error::exit::POLICY;

/// The rules in force: the `[review] protect` rules first (their reasons win), then kopsform's
/// defaults unless `protect-defaults = false`.
pub(crate) fn effective_rules(config: &ReviewConfig) -> Vec<ProtectRule> {
    let mut rules = config.protect.clone();
    if config.protect_defaults {
        rules.extend(default_rules());
    }
    rules
}

/// kopsform's built-in protected resources: what a kops cluster cannot lose by accident.
pub(crate) fn default_rules() -> Vec<ProtectRule> {
    let rule = |ty: &str, address: Option<&str>, reason: &str| ProtectRule {
        resource_type: Some(ty.to_string()),
        address: address.map(str::to_string),
        reason: Some(format!("{reason} (default rule)")),
    };
    vec![
        rule(
            "aws_ebs_volume",
            Some("*-etcd-*"),
            "etcd data volume: the cluster's state",
        ),
        rule(
            "aws_s3_bucket",
            None,
            "S3 bucket: its objects (such as the kops state store) go with it",
        ),
        rule(
            "aws_route53_zone",
            None,
            "Route53 hosted zone: the cluster's DNS",
        ),
        rule(
            "aws_autoscaling_group",
            Some("*master*"),
            "control-plane autoscaling group",
        ),
        rule(
            "aws_autoscaling_group",
            Some("*control-plane*"),
            "control-plane autoscaling group",
        ),
    ]
}

/// What a protected change does to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RiskAction {
    Delete,
    Replace,
}

impl RiskAction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RiskAction::Delete => "delete",
            RiskAction::Replace => "replace",
        }
    }
}

impl std::fmt::Display for RiskAction {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protected resource that the plan destroys or replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtectedChange {
    /// The address, with ` (deposed object KEY)` for a deposed object.
    pub(crate) address: String,
    pub(crate) action: RiskAction,
    /// The rule's reason, or a description of the rule.
    pub(crate) reason: String,
}

/// The changes that destroy or replace a resource matched by `rules`, in plan order.
pub(crate) fn protected_changes(
    summary: &PlanSummary,
    rules: &[ProtectRule],
) -> Vec<ProtectedChange> {
    protected_of(summary, &protection(summary, rules))
}

/// Each change's protection by `rules` (the reason of the first rule it matches), in plan order.
pub(super) fn protection(summary: &PlanSummary, rules: &[ProtectRule]) -> Vec<Option<String>> {
    let matcher = Matcher::new(rules);
    summary
        .changes
        .iter()
        .map(|c| matcher.protection(c))
        .collect()
}

/// The protected changes, given each change's protection (in plan order).
pub(super) fn protected_of(
    summary: &PlanSummary,
    protection: &[Option<String>],
) -> Vec<ProtectedChange> {
    summary
        .changes
        .iter()
        .zip(protection)
        .filter_map(|(c, reason)| {
            let reason = reason.clone()?;
            Some(ProtectedChange {
                address: c.display_address(),
                action: if c.action == Action::Delete {
                    RiskAction::Delete
                } else {
                    RiskAction::Replace
                },
                reason,
            })
        })
        .collect()
}

/// How a rule without a reason is described: `[review] protect rule { type = "x" }`.
pub(super) const RULE_PREFIX: &str = "[review] protect rule ";

/// Rules with their globs compiled once.
struct Matcher<'a> {
    rules: Vec<(&'a ProtectRule, Option<glob::Pattern>)>,
}

impl<'a> Matcher<'a> {
    fn new(rules: &'a [ProtectRule]) -> Self {
        Matcher {
            rules: rules
                .iter()
                .map(|r| {
                    (
                        r,
                        r.address
                            .as_deref()
                            .and_then(|g| glob::Pattern::new(g).ok()),
                    )
                })
                .collect(),
        }
    }

    /// Why the change is protected: it destroys a managed object that a rule matches.
    fn protection(&self, change: &ResourceChange) -> Option<String> {
        if !change.action.destroys() || change.mode != "managed" {
            return None;
        }
        let (rule, _) = self.rules.iter().find(|(rule, pattern)| {
            if rule.resource_type.is_none() && rule.address.is_none() {
                return false;
            }
            let type_ok = rule
                .resource_type
                .as_ref()
                .is_none_or(|t| *t == change.resource_type);
            // A glob that does not compile (check_rules reports it) is compared literally; the
            // glob is tried only when the type matches (most changes are of other types).
            type_ok
                && match (&rule.address, pattern) {
                    (None, _) => true,
                    (Some(_), Some(p)) => p.matches(&change.address),
                    (Some(g), None) => *g == change.address,
                }
        })?;
        Some(rule.reason.clone().unwrap_or_else(|| {
            let mut parts = Vec::new();
            if let Some(t) = &rule.resource_type {
                parts.push(format!("type = {t:?}"));
            }
            if let Some(a) = &rule.address {
                parts.push(format!("address = {a:?}"));
            }
            format!("{RULE_PREFIX}{{ {} }}", parts.join(", "))
        }))
    }
}

/// 3 when a protected resource is destroyed or replaced, 2 when anything changes, else 0.
pub(crate) fn exit_status(summary: &PlanSummary, protected: &[ProtectedChange]) -> i32 {
    if !protected.is_empty() {
        EXIT_PROTECTED
    } else if summary.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_NO_CHANGES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::review::fixtures::{rc, summary};

    #[test]
    fn default_rules_protect_what_a_cluster_cannot_lose() {
        let s = summary(
            &[
                rc("aws_ebs_volume.a-etcd-main-c", r#"["delete","create"]"#),
                rc("aws_ebs_volume.data", r#"["delete"]"#),
                rc("aws_s3_bucket.state", r#"["delete"]"#),
                rc("aws_s3_bucket.other", r#"["update"]"#),
                rc("aws_route53_zone.z", r#"["create","delete"]"#),
                rc("aws_autoscaling_group.master-a-masters-c", r#"["delete"]"#),
                rc("aws_autoscaling_group.nodes-c", r#"["delete"]"#),
                rc(
                    "module.m.aws_autoscaling_group.control-plane-a",
                    r#"["delete"]"#,
                ),
            ]
            .join(","),
        );
        let rules = effective_rules(&ReviewConfig::default());
        let protected = protected_changes(&s, &rules);
        let addresses: Vec<&str> = protected.iter().map(|p| p.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "aws_ebs_volume.a-etcd-main-c",
                "aws_s3_bucket.state",
                "aws_route53_zone.z",
                "aws_autoscaling_group.master-a-masters-c",
                "module.m.aws_autoscaling_group.control-plane-a",
            ]
        );
        assert_eq!(protected[0].action, RiskAction::Replace);
        assert_eq!(protected[1].action, RiskAction::Delete);
        assert_eq!(exit_status(&s, &protected), EXIT_PROTECTED);
        let off = ReviewConfig {
            protect: Vec::new(),
            protect_defaults: false,
            policy: Vec::new(),
        };
        assert!(protected_changes(&s, &effective_rules(&off)).is_empty());
    }

    #[test]
    fn configured_rules_come_first_and_bad_ones_are_reported() {
        let config = ReviewConfig {
            protect: vec![ProtectRule {
                resource_type: None,
                address: Some("aws_s3_bucket.st*".into()),
                reason: Some("the state".into()),
            }],
            protect_defaults: true,
            policy: Vec::new(),
        };
        let s = summary(&rc("aws_s3_bucket.state", r#"["delete"]"#));
        let protected = protected_changes(&s, &effective_rules(&config));
        assert_eq!(protected[0].reason, "the state");
        let bad = [ProtectRule {
            resource_type: None,
            address: Some("a[".into()),
            reason: None,
        }];
        assert!(
            crate::project::schema::check_protect_rules(&bad)
                .unwrap_err()
                .contains("not a valid glob")
        );
        let empty = [ProtectRule {
            resource_type: None,
            address: None,
            reason: None,
        }];
        assert!(
            crate::project::schema::check_protect_rules(&empty)
                .unwrap_err()
                .contains("neither")
        );
    }

    #[test]
    fn exit_statuses() {
        let none = summary(&rc("a.b", r#"["no-op"]"#));
        assert_eq!(exit_status(&none, &[]), EXIT_NO_CHANGES);
        let some = summary(&rc("a.b", r#"["update"]"#));
        assert_eq!(exit_status(&some, &[]), EXIT_CHANGES);
    }
}
