//! What a template sees: `terraform output -json` of the prerequisites layer read once, values
//! files and `--set` merged over it in order, and the cluster (name, state store, stage). In: the
//! project and the layer's outputs. Out: one JSON context per cluster.

pub(crate) mod context;
pub(crate) mod local_state;
pub(crate) mod merge;
pub(crate) mod outputs;
pub(crate) mod planned;
pub(crate) mod strvals;
