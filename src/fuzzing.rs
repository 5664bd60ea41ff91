//! The entry points of the fuzz targets in `fuzz/` (see `fuzz/run.sh`): one per parser, each
//! taking arbitrary bytes. None may panic, hang or exhaust memory on any input: bad input is an
//! error value, which the entry points drop. They live in the library, not in `fuzz/`, so that a
//! plain `cargo test` replays the committed corpus and the fixed crash inputs (the tests below).

use std::path::PathBuf;

use serde_json::Value;

use crate::project::Project;
use crate::review::markdown::{self, FullReport};
use crate::review::protect;
use crate::review::report::Review;

/// Where the fuzzed `tasks.toml` pretends to live. Nothing is read there.
const PROJECT_DIR: &str = "/kopsform-fuzz";

/// `tasks.toml`: parsed and checked as `Project::load` does (schema, clusters, the task graph,
/// protect rules), then what a run and `kopsform ci` work out from it before running anything.
pub fn tasks_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = PathBuf::from(PROJECT_DIR);
    let file = dir.join(crate::project::TASKS_FILE);
    let Ok(project) = Project::from_text(dir, file, text) else {
        return;
    };
    // The order of the first tasks alone (all of them would take time quadratic in their number),
    // of all of them, and of an unknown name (its suggestions).
    for (name, task) in project.config.tasks.iter().take(32) {
        let _ =
            crate::project::order::TaskOrder::new(project.task_graph(), std::slice::from_ref(name));
        let _ = task.confirmation(name);
    }
    let names: Vec<String> = project.config.tasks.keys().cloned().collect();
    let _ = crate::project::order::TaskOrder::new(project.task_graph(), &names);
    let _ = crate::project::order::TaskOrder::new(project.task_graph(), &["plna".to_string()]);
    // The clusters a run selects, and the fields templates see of each.
    let every = crate::project::cluster::Selection {
        all: true,
        ..crate::project::cluster::Selection::default()
    };
    let _ = project.select_clusters(&every);
    let _ = project.select_clusters(&crate::project::cluster::Selection::default());
    for def in &project.clusters {
        let fields = crate::values::context::static_fields(def);
        let _ = crate::render::template::substitute_fields(&def.config.name, "cluster", &fields);
    }
    let _ = protect::effective_rules(&project.config.review);
    // The CI pipelines (their paths name no file that exists: nothing is read or written).
    let root = PathBuf::from(PROJECT_DIR);
    for platform in [
        crate::cli::CiPlatform::Gitlab,
        crate::cli::CiPlatform::Github,
        crate::cli::CiPlatform::Jenkins,
    ] {
        let target = root.join(crate::commands::ci::default_path(platform));
        let args = crate::cli::GenerateArgs::default();
        let _ = crate::commands::ci::generate(&project, platform, &args, &root, &target);
    }
}

/// Values: a values file, a second one deep-merged over it, then `--set` assignments, one per
/// line. The three parts are separated by `0xFF` bytes (never part of UTF-8 text).
pub fn values_merge(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == 0xFF);
    let base = parts.next().unwrap_or_default();
    let overlay = parts.next().unwrap_or_default();
    let sets = parts.next().unwrap_or_default();
    let Ok(base) = std::str::from_utf8(base) else {
        return;
    };
    let mut merged = crate::values::merge::parse_file(base)
        .unwrap_or_else(|_| Value::Object(serde_json::Map::new()));
    if let Ok(overlay) = std::str::from_utf8(overlay) {
        match crate::values::merge::parse_file(overlay) {
            Ok(layer) => crate::values::merge::deep_merge(&mut merged, layer),
            Err(_) => {
                // Any YAML value, not only a mapping, as an overlay: lists and scalars replace.
                if let Ok(layer) = serde_yaml::from_str::<Value>(overlay) {
                    crate::values::merge::deep_merge(&mut merged, layer);
                }
            }
        }
    }
    if let Ok(sets) = std::str::from_utf8(sets) {
        for assignment in sets.lines() {
            let _ = crate::values::merge::apply_set(&mut merged, assignment);
        }
    }
    let _ = serde_json::to_string(&merged);
}

/// Plan JSON: the summary, then the review in every form a run writes (Markdown whole and cut to
/// budgets, JSON), with the built-in protect rules.
pub fn plan_summary(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(summary) = crate::plan::read::summarize(text) else {
        return;
    };
    let rules = protect::default_rules();
    let _ = protect::protected_changes(&summary, &rules);
    let review = Review::new(summary, &rules, Some("dev".to_string()), None);
    for budget in [None, Some(0), Some(600), Some(3000)] {
        if let Ok(md) = markdown::render_markdown(&review, budget, &FullReport::Rerun) {
            // Only a budget cuts, and a cut review is never the whole one.
            assert!(
                budget.is_some() || !md.cut(),
                "a review without a budget was cut"
            );
            assert_ne!(
                md.full.as_deref(),
                Some(md.text.as_str()),
                "a cut review equals the whole"
            );
        }
    }
    let _ = markdown::render_markdown(
        &review,
        Some(1000),
        &FullReport::File("review.full.md".to_string()),
    );
    let _ = crate::review::json::render_json(&review);
}

/// kops's texts: the rolling-update table (and the review section made of it) and the
/// `kops delete cluster` listing, both read from the same input.
pub fn kops_tables(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some(Ok(groups)) = crate::tools::kops::parse_rolling_update(&text) {
        let _ = crate::tools::kops::needing_update(&groups, str::to_string);
        if let Ok(summary) = crate::plan::read::summarize(r#"{"format_version":"1.2"}"#) {
            let review = Review::new(summary, &[], None, Some(groups));
            let _ = markdown::render_markdown(&review, None, &FullReport::Rerun);
            let _ = crate::review::json::render_json(&review);
        }
    }
    let _ = crate::tools::kops::parse_delete_listing(&text);
}

/// `terraform output -json` text: the outputs, what templates may see, the secrets to mask.
pub fn outputs(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(outputs) = crate::values::outputs::parse(&text) {
        let allowed: Vec<String> = outputs.sensitive.iter().take(1).cloned().collect();
        let _ = outputs.visible(&allowed);
        let _ = outputs.secrets();
    }
}

/// A template and a value (the bytes before the first NUL): rendering never panics, overflows the
/// stack or runs away (limits), and a value put into a quoted or unquoted YAML slot either comes
/// back exactly as that string or is refused: the invariant of docs/security.md, checked here
/// with panics the fuzzer reports.
pub fn render(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (value, template) = text.split_once('\0').unwrap_or((&text, "a: {{v}}\n"));
    let context = serde_json::json!({
        "v": value,
        "l": [value, value],
        "m": {value: value, "n": 3},
        "n": 3,
    });
    let renderer = crate::render::template::Renderer::new();
    let describe = |_: &crate::render::template::Culprit| String::new();
    let _ = renderer.render("t", template, &context);
    let _ = renderer.render_yaml("t", template, &context, &describe);
    let go = crate::render::go_template::GoRenderer {
        missing: crate::render::go_template::Missing::Error,
        snippets: Vec::new(),
    };
    let _ = go.render("t", template, &context);
    let _ = go.render_yaml("t", template, &context, &describe);
    let frames = [
        "a: {{v}}\n",
        "a: \"{{v}}\"\nb: 1\n",
        "- x\n- {{v}}\n",
        "a: '{{v}}'\n",
    ];
    let go_frames = frames.map(|f| f.replace("{{v}}", "{{ .v }}"));
    let go_frames = go_frames
        .iter()
        .map(String::as_str)
        .chain(["a: {{ .v | quote }}\n", "a: {{ .v | toJson }}\n"]);
    let renders = frames
        .iter()
        .map(|f| (*f, renderer.render_yaml("t", f, &context, &describe)))
        .chain(go_frames.map(|f| (f, go.render_yaml("t", f, &context, &describe))));
    for (frame, rendered) in renders {
        if let Ok(out) = rendered {
            let back: serde_yaml::Value =
                serde_yaml::from_str(&out).expect("an accepted render is YAML");
            let field = match &back {
                serde_yaml::Value::Sequence(items) => items.get(1),
                other => other.get("a"),
            };
            assert_eq!(
                field.and_then(serde_yaml::Value::as_str),
                Some(value),
                "{frame:?} with {value:?} gave {out:?}"
            );
        }
    }
}

/// An entry point: takes any bytes, never panics.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, as `fuzz/fuzz_targets/` names them.
pub const TARGETS: &[(&str, Target)] = &[
    ("tasks_toml", tasks_toml),
    ("values_merge", values_merge),
    ("plan_summary", plan_summary),
    ("kops_tables", kops_tables),
    ("outputs", outputs),
    ("render", render),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The files of `fuzz/<kind>/<target>/`, sorted (none when the folder does not exist).
    fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_corpus_and_the_fixed_crashes_replay_without_a_panic() {
        if !Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").is_dir() {
            return; // a packaged crate (Cargo.toml excludes fuzz/)
        }
        let mut total = 0;
        for (name, target) in TARGETS {
            let corpus = inputs("corpus", name);
            assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ has no seeds");
            for file in corpus.iter().chain(&inputs("regressions", name)) {
                let data = std::fs::read(file).unwrap();
                let run = std::panic::catch_unwind(|| target(&data));
                assert!(run.is_ok(), "{name} panicked on {}", file.display());
                total += 1;
            }
        }
        assert!(total > 0);
    }

    #[test]
    fn odd_inputs_are_no_panic() {
        for (_, target) in TARGETS {
            for data in [
                &b""[..],
                b"\xff",
                b"\xff\xff\xff",
                b"{",
                b"\0\n\r\t",
                "é".as_bytes(),
            ] {
                target(data);
            }
        }
    }
}
