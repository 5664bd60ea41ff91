//! `kopsform graph`: the task graph, and the clusters by stage, as a Mermaid flowchart or a
//! Graphviz digraph.
//!
//! One model ([`Graph`]) is built from the project and rendered by [`mermaid`] or [`dot`]. Both are
//! deterministic: tasks in `tasks.toml` order, each task's edges in the order of its `deps`,
//! stages in promotion order and the clusters of a stage in file order. Node ids are derived from
//! the names (`task_cluster_update`, `cluster_dev`, `stage_live`) and made unique; the names
//! themselves appear only in quoted, escaped labels, so any task name is safe in either format.

use std::collections::{BTreeMap, HashSet};

use crate::cli::{GraphArgs, GraphFormat};
use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::{ClusterDef, Selection};

/// A task of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskNode {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) desc: String,
    /// The question the task asks before it runs, if any.
    pub(crate) confirm: Option<String>,
}

/// The clusters of one stage, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageGroup {
    pub(crate) id: String,
    /// `stage dev`, `stage 2`, or `no stage`.
    pub(crate) label: String,
    /// (node id, cluster id)
    pub(crate) clusters: Vec<(String, String)>,
}

/// What `kopsform graph` draws.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Graph {
    pub(crate) tasks: Vec<TaskNode>,
    /// `(dependency, dependent)`, as positions in `tasks`.
    pub(crate) edges: Vec<(usize, usize)>,
    /// Empty unless the project has `[clusters.*]` tables.
    pub(crate) stages: Vec<StageGroup>,
}

/// Unique node ids: a prefix and the name with every character but ASCII letters and digits
/// replaced by `_`; a clash gets `_2`, `_3`, ...
#[derive(Default)]
struct Ids(HashSet<String>);

impl Ids {
    fn make(&mut self, prefix: &str, name: &str) -> String {
        let base: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let base = format!("{prefix}_{base}");
        let mut id = base.clone();
        let mut n = 1;
        // A stage's Graphviz subgraph is named `cluster_<id>` (Graphviz draws a box around
        // subgraphs whose name starts with `cluster`): that name is reserved along with the id.
        while self.0.contains(&id) || (prefix == "stage" && self.0.contains(&dot_cluster(&id))) {
            n += 1;
            id = format!("{base}_{n}");
        }
        if prefix == "stage" {
            self.0.insert(dot_cluster(&id));
        }
        self.0.insert(id.clone());
        id
    }
}

fn dot_cluster(stage_id: &str) -> String {
    format!("cluster_{stage_id}")
}

/// The graph of `requested` and their dependencies (every task when empty), with the clusters of
/// `clusters` grouped by stage when the project has `[clusters.*]`.
pub(crate) fn build(
    project: &Project,
    requested: &[String],
    clusters: &[ClusterDef],
) -> Result<Graph, UserError> {
    let all = &project.config.tasks;
    let shown: HashSet<String> = if requested.is_empty() {
        all.keys().cloned().collect()
    } else {
        crate::project::order::TaskOrder::new(project.task_graph(), requested)?
            .tasks
            .into_iter()
            .collect()
    };
    let mut ids = Ids::default();
    let mut graph = Graph::default();
    for (name, task) in all.iter().filter(|(name, _)| shown.contains(*name)) {
        graph.tasks.push(TaskNode {
            id: ids.make("task", name),
            name: name.clone(),
            desc: task.desc.clone(),
            confirm: task.confirmation(name),
        });
    }
    let position: std::collections::HashMap<&str, usize> = graph
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut edges = Vec::new();
    for (to, node) in graph.tasks.iter().enumerate() {
        // A task's edges are its own: a dependency named twice is drawn once.
        let first = edges.len();
        for dep in &all[&node.name].deps {
            if let Some(&from) = position.get(dep.as_str())
                && !edges[first..].contains(&(from, to))
            {
                edges.push((from, to));
            }
        }
    }
    graph.edges = edges;
    if !project.config.clusters.is_empty() {
        let mut by_rank: BTreeMap<usize, Vec<&ClusterDef>> = BTreeMap::new();
        for c in clusters {
            by_rank.entry(c.rank).or_default().push(c);
        }
        for members in by_rank.values() {
            let stage = members.iter().find_map(|c| c.config.stage.as_ref());
            let (key, label) = match stage {
                Some(s) => (s.to_string(), format!("stage {s}")),
                None => ("none".to_string(), "no stage".to_string()),
            };
            graph.stages.push(StageGroup {
                id: ids.make("stage", &key),
                label,
                clusters: Vec::new(),
            });
        }
        // Cluster ids after the stages' so that a stage keeps its plain id whatever clusters are called.
        for (group, members) in graph.stages.iter_mut().zip(by_rank.values()) {
            group.clusters = members
                .iter()
                .map(|c| (ids.make("cluster", &c.id), c.id.clone()))
                .collect();
        }
    }
    Ok(graph)
}

/// A Mermaid label: quoted, with the characters Mermaid or HTML would read as syntax written as
/// Mermaid entity codes (`#quot;`, `#35;`, ...).
fn mermaid_label(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push_str(&format!("#{};", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Graphviz quoted string.
fn dot_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const CONFIRM_FILL: &str = "#fde2e1";
const CONFIRM_STROKE: &str = "#c0392b";

/// The graph as a Mermaid flowchart (`flowchart LR`).
pub(crate) fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    out.push_str(
        "  %% kopsform graph: an arrow runs from a dependency to the task that needs it; hexagons ask for confirmation\n",
    );
    for t in &graph.tasks {
        let label = mermaid_label(&t.name);
        if t.confirm.is_some() {
            out.push_str(&format!("  {}{{{{{label}}}}}\n", t.id));
        } else {
            out.push_str(&format!("  {}[{label}]\n", t.id));
        }
    }
    for (from, to) in &graph.edges {
        out.push_str(&format!(
            "  {} --> {}\n",
            graph.tasks[*from].id, graph.tasks[*to].id
        ));
    }
    if !graph.stages.is_empty() {
        out.push_str("  %% clusters by stage, in promotion order\n");
    }
    for stage in &graph.stages {
        out.push_str(&format!(
            "  subgraph {}[{}]\n",
            stage.id,
            mermaid_label(&stage.label)
        ));
        for (id, name) in &stage.clusters {
            out.push_str(&format!("    {id}({})\n", mermaid_label(name)));
        }
        out.push_str("  end\n");
    }
    for pair in graph.stages.windows(2) {
        out.push_str(&format!("  {} --> {}\n", pair[0].id, pair[1].id));
    }
    let confirm: Vec<&str> = graph
        .tasks
        .iter()
        .filter(|t| t.confirm.is_some())
        .map(|t| t.id.as_str())
        .collect();
    if !confirm.is_empty() {
        out.push_str(&format!(
            "  classDef confirm fill:{CONFIRM_FILL},stroke:{CONFIRM_STROKE},stroke-width:2px\n"
        ));
        out.push_str(&format!("  class {} confirm\n", confirm.join(",")));
    }
    out
}

/// The graph as a Graphviz digraph.
pub(crate) fn dot(graph: &Graph) -> String {
    let mut out = String::from("digraph kopsform {\n");
    out.push_str(
        "  // kopsform graph: an arrow runs from a dependency to the task that needs it; hexagons ask for confirmation\n",
    );
    out.push_str("  rankdir=LR;\n  compound=true;\n  node [shape=box];\n");
    for t in &graph.tasks {
        let mut attrs = vec![format!("label={}", dot_string(&t.name))];
        match &t.confirm {
            Some(question) => {
                attrs.push(format!(
                    "shape=hexagon, style=filled, fillcolor=\"{CONFIRM_FILL}\", color=\"{CONFIRM_STROKE}\""
                ));
                attrs.push(format!("tooltip={}", dot_string(question)));
            }
            None if !t.desc.is_empty() => attrs.push(format!("tooltip={}", dot_string(&t.desc))),
            None => {}
        }
        out.push_str(&format!("  {} [{}];\n", t.id, attrs.join(", ")));
    }
    for (from, to) in &graph.edges {
        out.push_str(&format!(
            "  {} -> {};\n",
            graph.tasks[*from].id, graph.tasks[*to].id
        ));
    }
    if !graph.stages.is_empty() {
        out.push_str("  // clusters by stage, in promotion order\n");
    }
    for stage in &graph.stages {
        out.push_str(&format!("  subgraph {} {{\n", dot_cluster(&stage.id)));
        out.push_str(&format!("    label={};\n", dot_string(&stage.label)));
        for (id, name) in &stage.clusters {
            out.push_str(&format!(
                "    {id} [label={}, style=rounded];\n",
                dot_string(name)
            ));
        }
        out.push_str("  }\n");
    }
    // Graphviz has no edges between subgraphs: an edge between their first clusters, clipped
    // at the two boxes.
    for pair in graph.stages.windows(2) {
        if let (Some((from, _)), Some((to, _))) =
            (pair[0].clusters.first(), pair[1].clusters.first())
        {
            out.push_str(&format!(
                "  {from} -> {to} [ltail={}, lhead={}];\n",
                dot_cluster(&pair[0].id),
                dot_cluster(&pair[1].id)
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// `kopsform graph`: prints the graph of the project's tasks (or of `args.tasks`) and clusters.
pub(crate) fn command(
    project: &Project,
    args: &GraphArgs,
    selection: &Selection,
) -> Result<(), UserError> {
    let clusters = if selection.clusters.is_empty() && selection.stages.is_empty() {
        project.clusters.clone()
    } else {
        project.select_clusters(selection)?
    };
    let graph = build(project, &args.tasks, &clusters)?;
    let (text, fence) = match args.format {
        GraphFormat::Mermaid => (mermaid(&graph), "mermaid"),
        GraphFormat::Dot => (dot(&graph), "dot"),
    };
    if args.markdown {
        print!("```{fence}\n{text}```\n");
    } else {
        print!("{text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::cluster_defs;
    use crate::project::schema::parse;
    use std::path::PathBuf;

    fn project(toml: &str) -> Project {
        let config = parse(toml).unwrap();
        let clusters = cluster_defs(&config).unwrap();
        Project {
            dir: PathBuf::from("/p"),
            file: PathBuf::from("/p/tasks.toml"),
            config,
            clusters,
            retry: Default::default(),
        }
    }

    #[test]
    fn ids_are_unique_and_plain() {
        let mut ids = Ids::default();
        assert_eq!(ids.make("task", "cluster-update"), "task_cluster_update");
        assert_eq!(ids.make("task", "cluster_update"), "task_cluster_update_2");
        assert_eq!(ids.make("task", "cluster.update"), "task_cluster_update_3");
        assert_eq!(ids.make("task", "a:b"), "task_a_b");
        assert_eq!(ids.make("task", "é"), "task__");
        assert_eq!(ids.make("stage", "dev"), "stage_dev");
        // `cluster_stage_dev` is the Graphviz name of stage_dev's box.
        assert_eq!(ids.make("cluster", "stage_dev"), "cluster_stage_dev_2");
    }

    #[test]
    fn labels_escape_what_the_formats_would_read() {
        assert_eq!(
            mermaid_label("a\"b<c>#d&e`f\ng"),
            "\"a#quot;b#lt;c#gt;#35;d#amp;e#96;f#10;g\""
        );
        assert_eq!(dot_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }

    #[test]
    fn edges_run_from_dependency_to_dependent_in_file_order() {
        let p = project(
            "[tasks.z]\ndeps=[\"a\", \"a\"]\n[tasks.a]\nconfirm=true\n[tasks.b]\ndeps=[\"z\"]\n[tasks.c]\n",
        );
        let g = build(&p, &[], &p.clusters).unwrap();
        let names: Vec<&str> = g.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "b", "c"]);
        assert_eq!(g.edges, [(1, 0), (0, 2)]);
        assert!(g.stages.is_empty());
        let m = mermaid(&g);
        assert!(m.contains("  task_a{{\"a\"}}\n"), "{m}");
        assert!(
            m.contains("  task_a --> task_z\n  task_z --> task_b\n"),
            "{m}"
        );
        assert!(m.ends_with("  class task_a confirm\n"), "{m}");
        let filtered = build(&p, &["b".into()], &p.clusters).unwrap();
        let names: Vec<&str> = filtered.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["z", "a", "b"]);
    }

    #[test]
    fn clusters_are_grouped_by_stage_in_promotion_order() {
        let p = project(
            "stages = [\"dev\", \"live\"]\n\
             [clusters.prod]\nname=\"p\"\nstate=\"s3://x\"\nstage=\"live\"\ndir=\"c/prod\"\n\
             [clusters.dev]\nname=\"d\"\nstate=\"s3://x\"\nstage=\"dev\"\ndir=\"c/dev\"\n\
             [clusters.staging]\nname=\"s\"\nstate=\"s3://x\"\nstage=\"live\"\ndir=\"c/staging\"\n\
             [tasks.a]\n",
        );
        let g = build(&p, &[], &p.clusters).unwrap();
        let stages: Vec<(&str, Vec<&str>)> = g
            .stages
            .iter()
            .map(|s| {
                (
                    s.label.as_str(),
                    s.clusters.iter().map(|(_, c)| c.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            stages,
            [
                ("stage dev", vec!["dev"]),
                ("stage live", vec!["prod", "staging"])
            ]
        );
        let d = dot(&g);
        assert!(
            d.contains(
                "  cluster_dev -> cluster_prod [ltail=cluster_stage_dev, lhead=cluster_stage_live];\n"
            ),
            "{d}"
        );
    }
}
