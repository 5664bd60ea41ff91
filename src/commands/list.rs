//! `kopsform list`: the tasks of tasks.toml, as text or JSON.

use crate::project::Project;

/// `kopsform list`: each task with its description, or `--json`.
pub(crate) fn command(project: &Project, json: bool) {
    let tasks = &project.config.tasks;
    if json {
        let list: Vec<serde_json::Value> = tasks
            .iter()
            .map(|(name, task)| {
                let mut entry = serde_json::json!({
                    "name": name,
                    "desc": task.desc,
                    "deps": task.deps,
                    "confirm": task.confirmation(name),
                    "sources": task.sources,
                    "generates": task.generates,
                    "steps": task.steps.len(),
                });
                // Present only for a task that declares parameters (docs/json.md).
                if !task.params.is_empty() {
                    let params: serde_json::Map<String, serde_json::Value> = task
                        .params
                        .iter()
                        .map(|(p, d)| {
                            (
                                p.clone(),
                                serde_json::json!({
                                    "required": d.is_required(),
                                    "default": d.default,
                                    "help": d.help,
                                }),
                            )
                        })
                        .collect();
                    entry["params"] = serde_json::Value::Object(params);
                }
                entry
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
        // Each declared parameter on a line of its own, under the description.
        let flags: Vec<String> = task
            .params
            .keys()
            .map(|p| format!("--param {p}=VALUE"))
            .collect();
        let flag_width = flags.iter().map(String::len).max().unwrap_or(0);
        for (flag, param) in flags.iter().zip(task.params.values()) {
            let mut about = match (&param.default, param.is_required()) {
                (Some(default), _) => format!("default {default:?}"),
                (None, true) => "required".to_string(),
                (None, false) => "optional".to_string(),
            };
            if !param.help.is_empty() {
                about.push_str("; ");
                about.push_str(&param.help);
            }
            let line = format!("{:width$}    {flag:flag_width$}  {about}", "");
            text.push_str(&line);
            text.push('\n');
        }
    }
    print!("{text}");
}
