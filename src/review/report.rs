//! The review as built from a plan summary: the summary with each change's protection, the
//! cluster and rolling update, the exit status and the rows' second pass; what renderings read.

use crate::plan;
use crate::plan::summary::{Action, PlanSummary, ResourceChange};
use crate::project::schema::ProtectRule;
use crate::tools::kops::GroupStatus;

use super::policy::Violation;
use super::protect::{
    EXIT_CHANGES, EXIT_NO_CHANGES, EXIT_POLICY, ProtectedChange, exit_status, protected_of,
    protection,
};
use super::spec::{Rule, SpecDiff};

/// Everything a rendering needs.
pub(crate) struct Review {
    pub(crate) summary: PlanSummary,
    /// Per change (same order as `summary.changes`): why it is protected, if it is.
    pub(crate) protection: Vec<Option<String>>,
    pub(crate) protected: Vec<ProtectedChange>,
    /// The cluster of the marker line: `--cluster`, or `default`.
    pub(crate) cluster: String,
    /// `--cluster` was given (the title names it).
    pub(crate) cluster_named: bool,
    pub(crate) rolling_update: Option<Vec<GroupStatus>>,
    pub(crate) exit_status: i32,
    /// How many `[[review.policy]]` rules were evaluated on the manifest (0: none).
    pub(crate) policy_rules: usize,
    /// The documents of the manifest that break a policy rule.
    pub(crate) violations: Vec<Violation>,
    /// The plan's second pass, when the changes' attribute rows are not in `summary` (a large
    /// plan's rows are made and written one change at a time).
    pub(super) rows: Option<plan::read::Rows>,
    /// This review is the prerequisites layer's part of a cluster's review: the layer's folder.
    pub(crate) part: Option<String>,
    /// The prerequisites layer's review, shown in a section of the cluster's.
    pub(crate) prerequisites: Option<Box<Review>>,
    /// The cluster's plan waits for the prerequisites' apply (`planned-outputs`): why.
    pub(crate) deferred: Option<crate::values::planned::Deferral>,
    /// The live kops spec against the new manifest, when the review was given both.
    pub(crate) spec: Option<SpecDiff>,
}

impl Review {
    pub(crate) fn new(
        summary: PlanSummary,
        rules: &[ProtectRule],
        cluster: Option<String>,
        rolling_update: Option<Vec<GroupStatus>>,
    ) -> Review {
        let protection = protection(&summary, rules);
        let protected = protected_of(&summary, &protection);
        let exit_status = exit_status(&summary, &protected);
        Review {
            summary,
            protection,
            protected,
            cluster_named: cluster.is_some(),
            cluster: cluster.unwrap_or_else(|| "default".to_string()),
            rolling_update,
            exit_status,
            policy_rules: 0,
            violations: Vec::new(),
            rows: None,
            part: None,
            prerequisites: None,
            deferred: None,
            spec: None,
        }
    }

    /// Adds the kops spec changes, each tied to the instance groups that need a rolling update
    /// for it: a Cluster change to the groups whose launch template this plan changes (its own
    /// group for an InstanceGroup change was set when it was read). Spec changes with no plan
    /// change (an instance group left out of the manifest) still make the status "changes".
    pub(crate) fn with_spec(mut self, mut spec: SpecDiff) -> Review {
        let templates: Vec<String> = launch_template_changes(&self)
            .into_iter()
            .map(|(group, _)| group)
            .collect();
        for change in &mut spec.changes {
            if change.rule == Rule::LaunchTemplates {
                change.groups = templates.clone();
            }
        }
        if self.exit_status == EXIT_NO_CHANGES && !spec.is_empty() {
            self.exit_status = EXIT_CHANGES;
        }
        self.spec = Some(spec);
        self
    }

    /// The policy verdict: `rules` rules were evaluated and found `violations`; any violation makes
    /// the exit status 5, whatever the plan changes.
    pub(crate) fn with_policy(mut self, rules: usize, violations: Vec<Violation>) -> Review {
        if !violations.is_empty() {
            self.exit_status = EXIT_POLICY;
        }
        self.policy_rules = rules;
        self.violations = violations;
        self
    }

    /// Adds the prerequisites layer's review and the deferral, if any; the exit status becomes
    /// the graver of the two plans' (3 protected, 2 changes, 0 none), and 2 at least when the
    /// cluster's plan is deferred: its changes are still to come.
    pub(crate) fn with_prerequisites(
        mut self,
        prerequisites: Option<Review>,
        deferred: Option<crate::values::planned::Deferral>,
    ) -> Review {
        // 5 (a policy rule broken) > 3 (protected) > 2 (changes) > 0.
        let rank = |s: i32| match s {
            0 => 0,
            2 => 1,
            3 => 2,
            _ => 3,
        };
        if let Some(p) = &prerequisites
            && rank(p.exit_status) > rank(self.exit_status)
        {
            self.exit_status = p.exit_status;
        }
        if deferred.is_some() && self.exit_status == super::protect::EXIT_NO_CHANGES {
            self.exit_status = 2;
        }
        self.prerequisites = prerequisites.map(Box::new);
        self.deferred = deferred;
        self
    }

    /// The attribute rows come from `rows`, change by change, not from the summary.
    pub(crate) fn with_rows(mut self, rows: plan::read::Rows) -> Review {
        self.rows = Some(rows);
        self
    }

    /// The changes that destroy an object, protected ones first, each in plan order.
    pub(super) fn risky(&self) -> Vec<(&ResourceChange, Option<&str>)> {
        let mut risky: Vec<(&ResourceChange, Option<&str>)> = self
            .summary
            .changes
            .iter()
            .zip(&self.protection)
            .filter(|(c, _)| c.action.destroys())
            .map(|(c, p)| (c, p.as_deref()))
            .collect();
        risky.sort_by_key(|(_, p)| p.is_none());
        risky
    }
}

/// The launch templates this plan creates, changes or replaces: `(instance group, address)`.
/// Their instances run the old template until a rolling update replaces them. kops names the
/// launch template after the autoscaling group, `<ig>.<cluster>`, `<ig>.masters.<cluster>` or
/// `<ig>.apiservers.<cluster>` (kops: pkg/model/names.go, AutoscalingGroupName), and the Terraform
/// resource after that with dots as dashes (upup/pkg/fi/cloudup/terraformWriter/writer.go,
/// sanitizeName); the offline sandbox's stand-ins are `terraform_data.aws_launch_template_<name>`.
pub(super) fn launch_template_changes(review: &Review) -> Vec<(String, String)> {
    review
        .summary
        .changes
        .iter()
        .filter(|c| {
            c.mode == "managed"
                && matches!(
                    c.action,
                    Action::Update
                        | Action::DeleteThenCreate
                        | Action::CreateThenDelete
                        | Action::CreateThenForget
                        | Action::ForgetThenCreate
                )
        })
        .filter_map(|c| {
            let name = if c.resource_type == "aws_launch_template" {
                c.name.as_str()
            } else if c.resource_type == "terraform_data" {
                c.name.strip_prefix("aws_launch_template_")?
            } else {
                return None;
            };
            Some((launch_template_group(review, name), c.address.clone()))
        })
        .collect()
}

/// The instance group of the launch template kops names `name` (the Terraform resource name):
/// `<ig>-<cluster>`, `<ig>-masters-<cluster>` or `<ig>-apiservers-<cluster>` with dots as
/// dashes; the whole name when the review names no cluster.
pub(super) fn launch_template_group(review: &Review, name: &str) -> String {
    let suffix = format!("-{}", review.cluster.replace('.', "-"));
    let group = match name.strip_suffix(&suffix).filter(|_| review.cluster_named) {
        Some(rest) => rest
            .strip_suffix("-masters")
            .or_else(|| rest.strip_suffix("-apiservers"))
            .unwrap_or(rest),
        None => name,
    };
    group.to_string()
}
