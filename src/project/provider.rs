//! `[provider-override]` settings, the project's and a cluster's: the provider settings kops's
//! `kubernetes.tf` lacks, written into the override file by the `provider-override` built-in. Its
//! own module so that both the project's tables (`schema`) and a cluster's (`cluster`) use it.

use serde::Deserialize;

/// `[provider-override]`, the project's or a cluster's (`[clusters.<id>.provider-override]`, whose
/// keys win). Each setting is a string, a template over the values written as an HCL string, or
/// `{ expr = "..." }`, an HCL expression written as it is (`var.profile`).
#[derive(Debug, Deserialize, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderOverride {
    pub(crate) region: Option<Setting>,
    pub(crate) profile: Option<Setting>,
    pub(crate) assume_role: Option<Setting>,
    /// Region of the `aws.files` provider alias kops uses for the state store objects.
    pub(crate) files_region: Option<Setting>,
    /// Profile of the `aws.files` alias; defaults to `profile`.
    pub(crate) files_profile: Option<Setting>,
    /// Role the `aws.files` alias assumes; defaults to `assume_role`.
    pub(crate) files_assume_role: Option<Setting>,
}

impl ProviderOverride {
    /// `self` with the keys `over` sets replaced.
    pub(crate) fn overlaid(&self, over: &ProviderOverride) -> ProviderOverride {
        let pick = |a: &Option<Setting>, b: &Option<Setting>| b.clone().or_else(|| a.clone());
        ProviderOverride {
            region: pick(&self.region, &over.region),
            profile: pick(&self.profile, &over.profile),
            assume_role: pick(&self.assume_role, &over.assume_role),
            files_region: pick(&self.files_region, &over.files_region),
            files_profile: pick(&self.files_profile, &over.files_profile),
            files_assume_role: pick(&self.files_assume_role, &over.files_assume_role),
        }
    }

    /// Every setting with its key, for rendering them in place.
    pub(crate) fn settings_mut(&mut self) -> [(&'static str, &mut Option<Setting>); 6] {
        [
            ("region", &mut self.region),
            ("profile", &mut self.profile),
            ("assume_role", &mut self.assume_role),
            ("files_region", &mut self.files_region),
            ("files_profile", &mut self.files_profile),
            ("files_assume_role", &mut self.files_assume_role),
        ]
    }
}

/// One provider setting: a string (a template over the values, written as an HCL string with
/// `${` and `%{` escaped, so a value can never become an expression) or a raw HCL expression of
/// tasks.toml's own (`{ expr = "var.profile" }`), which is never templated.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(
    untagged,
    expecting = "expected a string (a template over the values) or an inline table `{ expr = \"var.name\" }` (an HCL expression written as it is); fix the value (docs/tasks-toml.md, [provider-override])"
)]
pub(crate) enum Setting {
    Text(String),
    Expr { expr: String },
}
