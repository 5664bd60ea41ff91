//! In-process holds on Terraform folders, shared by every runner of the process: two clusters
//! running in parallel never run Terraform in one folder (and workspace) at once.

use std::path::{Path, PathBuf};

/// In-process holds on Terraform folders (with their workspace): clusters of one stage run in
/// parallel, and two of them must never run Terraform in the same folder at once, nor one plan
/// between another's plan and apply of a shared prerequisites layer. A runner may hold a folder
/// several times over (a task hold around its command holds).
pub(super) struct Folders {
    pub(super) held: std::sync::Mutex<Vec<(PathBuf, String, u64, usize)>>,
    pub(super) freed: std::sync::Condvar,
}

pub(super) static FOLDERS: Folders = Folders {
    held: std::sync::Mutex::new(Vec::new()),
    freed: std::sync::Condvar::new(),
};

/// A hold on a folder, released when dropped.
pub(super) struct FolderHold {
    pub(super) dir: PathBuf,
    pub(super) workspace: String,
}

pub(super) fn hold_folder(cwd: &Path, workspace: &str, owner: u64) -> FolderHold {
    let dir = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let mut held = FOLDERS.held.lock().unwrap_or_else(|e| e.into_inner());
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
                held = FOLDERS.freed.wait(held).unwrap_or_else(|e| e.into_inner());
            }
        }
    }
    FolderHold {
        dir,
        workspace: workspace.to_string(),
    }
}

impl Drop for FolderHold {
    fn drop(&mut self) {
        let mut held = FOLDERS.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held
            .iter()
            .position(|(d, w, _, _)| *d == self.dir && *w == self.workspace)
        {
            held[i].3 -= 1;
            if held[i].3 == 0 {
                held.remove(i);
            }
        }
        FOLDERS.freed.notify_all();
    }
}

pub(super) fn next_runner_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}
