//! Terraform plan JSON (`terraform show -json`) -> a [`PlanSummary`](summary::PlanSummary) that holds no secrets.
//!
//! The JSON is read as a stream ([`crate::plan::jsonscan`]): one top-level field or change at a time is
//! copied into a small buffer and parsed with serde into typed structs; the parts a review never
//! needs (`prior_state`, `planned_values`, most of `configuration`) are skipped without being
//! held. A first pass gathers the counts, the list of changes and the sensitive values (a change's
//! `before`/`after` are skipped unless Terraform marks something in them sensitive, which costs one
//! more pass); a second pass ([`Rows::each`](read::Rows::each)) turns each change into attribute rows, which the
//! review writes and drops one change at a time. So a plan of tens of thousands of resources
//! never sits in memory, and neither do its rows. A review that writes every change's rows reads
//! a plan without secrets once ([`read::open_keeping_rows`]): the first pass makes the rows too
//! and keeps them encoded ([`kept`]), in memory up to a bound and beyond it in a temporary file.
//!
//! Secrets are removed here, not when printing: every value in a [`PlanSummary`](summary::PlanSummary) is already a
//! display form ([`Shown`](summary::Shown)), so nothing downstream can print a secret by mistake. A value is
//! `(sensitive)` when Terraform marks it (`before_sensitive`/`after_sensitive`, sensitive outputs,
//! variables declared `sensitive`), and also when it equals a sensitive value found anywhere in the
//! plan or contains the value of a sensitive variable or output: Terraform does not mark every copy
//! (`terraform_data`'s `output` echoes a sensitive `input` unmarked). Large blobs (user data,
//! policies, object contents, any multi-line string or one over 200 characters) are shown as a
//! sha256 prefix and a size.
//!
//! The counts follow Terraform's own renderer (hashicorp/terraform
//! internal/command/jsonformat/plan.go `renderHuman`): a replacement counts in add and destroy,
//! imports get a `N to import, ` prefix, moves and reads are shown but not counted, deleted data
//! sources are skipped. Terraform never counts forgets (`removed` with `destroy = false`) in its
//! `Plan:` line; OpenTofu (opentofu/opentofu, same file) appends `, N to forget.`. The two are told
//! apart by the `applyable` field, which Terraform writes since 1.8 and OpenTofu never does.

pub(crate) mod build;
pub(crate) mod filediff;
pub(crate) mod json_ref;
pub(crate) mod jsonscan;
pub(crate) mod kept;
pub(crate) mod quick;
pub(crate) mod raw;
pub(crate) mod read;
pub(crate) mod rows;
pub(crate) mod seal;
pub(crate) mod secrets;
pub(crate) mod stream;
pub(crate) mod summary;
