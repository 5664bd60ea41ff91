//! kops state stores. In: a state store (`s3://`, `file://`, a path). Out: its objects read,
//! snapshots for isolated dry runs, per-cluster locks. `store` says where a store lives and reads
//! it through the one `aws` runner; `snapshot` copies a cluster's registry for an isolated dry run;
//! `lock` takes the cluster's lock in its store; `preflight` reads, before kops runs, what kops
//! would write to the live key and secret stores.

pub(crate) mod lock;
pub(crate) mod preflight;
pub(crate) mod snapshot;
pub(crate) mod store;
