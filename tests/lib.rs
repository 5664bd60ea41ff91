//! kopsform's integration tests: the real binary, real terraform, a real S3 API (moto_server) and
//! the kops double. One test binary, a module per story.

mod support;

mod affected;
mod approvals;
mod architecture;
mod audit;
mod ci;
mod clusters;
mod doctor;
mod double_fidelity;
mod drift;
mod dryrun;
mod errors;
mod go_template;
mod graph_cmd;
mod hostile;
mod import;
mod interrupts;
mod kops_toolbox;
mod lifecycle;
mod locks;
mod migration;
mod output;
mod ownership;
mod parallel;
mod partial_backend;
mod passthrough;
mod pins;
mod project_env;
mod provider_cache;
mod real_double;
mod real_lifecycle;
mod real_provider;
mod release;
mod retries;
mod review;
mod review_files;
mod running;
mod sandbox;
mod secrets;
mod spec_review;
mod template;
mod tofu;
mod tool_versions;
mod transcripts;
