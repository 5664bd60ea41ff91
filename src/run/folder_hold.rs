//! Holds on Terraform folders, shared by every runner of one run: two clusters running in parallel
//! never run Terraform in one folder (and workspace) at once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// The folders (with their workspace) held by the runners of one run: clusters of one stage run in
/// parallel, and two of them must never run Terraform in the same folder at once, nor one plan
/// between another's plan and apply of a shared prerequisites layer. A runner may hold a folder
/// several times over (a task hold around its command holds).
#[derive(Default)]
pub(crate) struct Folders {
    /// Folder, workspace, the holding runner, how many times it holds it.
    held: Mutex<Vec<(PathBuf, String, u64, usize)>>,
    freed: Condvar,
    /// The last runner id handed out.
    runners: AtomicU64,
}

/// A hold on a folder, released when dropped.
pub(crate) struct FolderHold<'f> {
    folders: &'f Folders,
    dir: PathBuf,
    workspace: String,
}

impl Folders {
    /// An id that tells a runner's holds from the others'.
    pub(crate) fn next_runner_id(&self) -> u64 {
        self.runners.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Holds `cwd` (in `workspace`) for the runner `owner`, waiting while another runner holds it.
    pub(crate) fn hold(&self, cwd: &Path, workspace: &str, owner: u64) -> FolderHold<'_> {
        let dir = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match held
                .iter_mut()
                .find(|(d, w, _, _)| *d == dir && w == workspace)
            {
                None => {
                    held.push((dir.clone(), workspace.to_string(), owner, 1));
                    break;
                }
                Some((_, _, o, count)) if *o == owner => {
                    *count += 1;
                    break;
                }
                Some(_) => {
                    held = self.freed.wait(held).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
        FolderHold {
            folders: self,
            dir,
            workspace: workspace.to_string(),
        }
    }
}

impl Drop for FolderHold<'_> {
    fn drop(&mut self) {
        let mut held = self.folders.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held
            .iter()
            .position(|(d, w, _, _)| *d == self.dir && *w == self.workspace)
        {
            held[i].3 -= 1;
            if held[i].3 == 0 {
                held.remove(i);
            }
        }
        self.folders.freed.notify_all();
    }
}
