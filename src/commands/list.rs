//! `kopsform list`: the tasks of tasks.toml, as text or JSON.

use crate::project::Project;

/// `kopsform list`: each task with its description, or `--json`.
pub(crate) fn command(project: &Project, json: bool) {
    let tasks = &project.config.tasks;
    if json {
        let list: Vec<serde_json::Value> = tasks
            .iter()
            .map(|(name, task)| {
                serde_json::json!({
                    "name": name,
                    "desc": task.desc,
                    "deps": task.deps,
                    "confirm": task.confirmation(name),
                    "sources": task.sources,
                    "generates": task.generates,
                    "steps": task.steps.len(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    let width = tasks.keys().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    for (name, task) in tasks {
        let confirm = if task.confirmation(name).is_some() {
            " [confirm]"
        } else {
            ""
        };
        let line = format!("{name:width$}  {}{confirm}", task.desc);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    print!("{text}");
}
