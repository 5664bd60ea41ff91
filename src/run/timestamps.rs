//! `kops replace` keeps the creation timestamps the state store holds.
//!
//! kops gives an object replaced without `metadata.creationTimestamp` the current time
//! (pkg/client/simple/vfsclientset/commonvfs.go, `update`), and `kops update cluster` writes it into
//! `cluster-completed.spec`, a managed file `kubernetes.tf` uploads: every `cluster-update` of an
//! unchanged template, and every dry run, would plan a change of that file. Before
//! `kops replace -f FILE` runs, kopsform reads the stored objects' timestamps (from a local store,
//! the dry run's snapshot among them, directly; from S3 through one `aws s3 sync` of the cluster's
//! spec into a scratch folder) and, when the manifest lacks them, hands kops a copy of FILE that
//! has them, under `.kopsform/replace/`. The rendered file stays what the template made.

use std::path::Path;

use crate::error::UserError;
use crate::render::manifest;
use crate::statestore::{snapshot, store};
use crate::tools::kops::KopsArgs;
use crate::{atomic, progress};

use super::scope::{Runner, env_value};

impl<'p> Runner<'p> {
    /// `argv` (a kops command run in `cwd` with `env`) with each `-f`/`--filename` manifest of a
    /// `kops replace` swapped for a copy holding the stored creation timestamps, when any was
    /// missing; `None` when nothing changes.
    pub(super) fn pin_replace(
        &mut self,
        prefix: &str,
        argv: &[String],
        cwd: &Path,
        env: &[(String, String)],
    ) -> Result<Option<Vec<String>>, UserError> {
        let args = KopsArgs::parse(&argv[1..]);
        if args.verb() != "replace" || args.files.is_empty() {
            return Ok(None);
        }
        let Some(cluster) = self.known_cluster() else {
            return Ok(None);
        };
        let state = args
            .state
            .clone()
            .or_else(|| env_value(env, "KOPS_STATE_STORE"))
            .or_else(|| std::env::var("KOPS_STATE_STORE").ok())
            .unwrap_or(cluster.state.clone());
        let store = store::Store::parse(&state, &self.project.dir)?;
        let work = crate::paths::inside(&self.project.dir, ".kopsform/replace")
            .map_err(|e| UserError::new(format!(".kopsform/replace {e}; nothing was written")))?;
        std::fs::create_dir_all(&work)
            .map_err(|e| UserError::new(format!("{}: cannot create: {e}", work.display())))?;
        let stored = match &store {
            store::Store::Local(path) => snapshot::creation_timestamps(&path.join(&cluster.name)),
            store::Store::S3 { .. } => {
                let scratch = tempfile::Builder::new()
                    .prefix("stored-")
                    .tempdir_in(&work)
                    .map_err(|e| {
                        UserError::new(format!("{}: cannot create: {e}", work.display()))
                    })?;
                let copy = scratch.path().join("s");
                let aws = store::Aws::of(self.project, self.cluster.as_ref());
                match snapshot::snapshot(&store, &cluster.name, &copy, &aws) {
                    Ok(_) => snapshot::creation_timestamps(&copy.join(&cluster.name)),
                    // Nothing stored yet: the cluster is being created.
                    Err(e) if e.message.contains("holds no object") => return Ok(None),
                    Err(e) => return Err(e),
                }
            }
        };
        let mut argv = argv.to_vec();
        let mut pinned = 0;
        for file in &args.files {
            let path = cwd.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // kops says what is wrong with it
            };
            let Ok(documents) = manifest::check(&text, &cluster.name) else {
                continue;
            };
            let Some(text) = manifest::pin_timestamps(&text, &documents, &stored) else {
                continue;
            };
            let name = Path::new(file)
                .file_name()
                .map_or("manifest.yml".into(), |n| n.to_string_lossy().into_owned());
            // The name passed kops's name rule (a DNS subdomain): it is safe in a path.
            let copy = work.join(format!("{}-{name}", cluster.name));
            atomic::write(&copy, text.as_bytes(), 0o600)?;
            let copy = copy.to_string_lossy().into_owned();
            for (i, a) in argv.clone().iter().enumerate().skip(1) {
                if a == file && matches!(argv[i - 1].as_str(), "-f" | "--filename") {
                    argv[i] = copy.clone();
                }
            }
            pinned += 1;
        }
        if pinned == 0 {
            return Ok(None);
        }
        progress!(
            "{prefix}kept the stored creation timestamps: kops replace reads a copy of the manifest under .kopsform/replace/ that has them (kops would set the current time and cluster-completed.spec would change)"
        );
        Ok(Some(argv))
    }
}
