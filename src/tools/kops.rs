//! Parsers for the text kops prints, so kopsform can say what it means.
//!
//! kops renders its tables with Go's tabwriter (kops: util/pkg/tables/format.go): a header line of
//! upper-case column names, then one row per line, cells separated by runs of blanks, ended by a
//! blank line. No cell kopsform reads contains a blank, so splitting on whitespace is exact.

/// One row of `kops rolling-update cluster`'s table
/// (kops: cmd/kops/rolling-update_cluster.go, columns NAME STATUS NEEDUPDATE READY MIN TARGET MAX NODES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupStatus {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) need_update: u64,
    pub(crate) ready: u64,
    pub(crate) min: u64,
    pub(crate) target: u64,
    pub(crate) max: u64,
    /// Absent with `--cloudonly`.
    pub(crate) nodes: Option<u64>,
}

impl GroupStatus {
    pub(crate) fn needs_update(&self) -> bool {
        self.need_update > 0 || self.status == "NeedsUpdate"
    }
}

/// Reads the rolling-update table from kops's stdout. `None` when there is no table.
pub(crate) fn parse_rolling_update(text: &str) -> Option<Result<Vec<GroupStatus>, String>> {
    let rows = table_after(text, &["NAME", "STATUS", "NEEDUPDATE"])?;
    Some(
        rows.iter()
            .map(|(line, cells)| {
                let number = |i: usize| -> Result<u64, String> {
                    let cell = cells.get(i).ok_or_else(|| {
                        format!("rolling-update table line {line}: too few columns")
                    })?;
                    cell.parse().map_err(|_| {
                        format!("rolling-update table line {line}: `{cell}` is not a number")
                    })
                };
                Ok(GroupStatus {
                    name: cells[0].to_string(),
                    status: cells
                        .get(1)
                        .ok_or_else(|| format!("rolling-update table line {line}: no STATUS"))?
                        .to_string(),
                    need_update: number(2)?,
                    ready: number(3)?,
                    min: number(4)?,
                    target: number(5)?,
                    max: number(6)?,
                    nodes: if cells.len() > 7 {
                        Some(number(7)?)
                    } else {
                        None
                    },
                })
            })
            .collect(),
    )
}

/// One resource of `kops delete cluster`'s listing
/// (kops: cmd/kops/delete_cluster.go, columns TYPE NAME ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloudResource {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) id: String,
}

/// Reads the resource listing from `kops delete cluster`'s stdout. Empty when kops listed none.
pub(crate) fn parse_delete_listing(text: &str) -> Result<Vec<CloudResource>, String> {
    let Some(rows) = table_after(text, &["TYPE", "NAME", "ID"]) else {
        return Ok(Vec::new());
    };
    rows.iter()
        .map(|(line, cells)| match cells.as_slice() {
            [kind, name @ .., id] if !name.is_empty() => Ok(CloudResource {
                kind: kind.to_string(),
                name: name.join(" "),
                id: id.to_string(),
            }),
            [kind, id] => Ok(CloudResource {
                kind: kind.to_string(),
                name: String::new(),
                id: id.to_string(),
            }),
            _ => Err(format!("delete listing line {line}: expected TYPE NAME ID")),
        })
        .collect()
}

/// The rows (1-based line number, cells) below the first header line starting with `header`, up
/// to the first blank line.
fn table_after<'a>(text: &'a str, header: &[&str]) -> Option<Vec<(usize, Vec<&'a str>)>> {
    let mut lines = text.lines().enumerate();
    lines.by_ref().find(|(_, line)| {
        let cells: Vec<&str> = line.split_whitespace().collect();
        cells.len() >= header.len() && cells[..header.len()] == *header
    })?;
    Some(
        lines
            .map_while(|(i, line)| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                (!cells.is_empty()).then_some((i + 1, cells))
            })
            .collect(),
    )
}

/// The groups that need an update, each as `NAME (N of M nodes)` with `name` shaping the name.
pub(crate) fn needing_update(groups: &[GroupStatus], name: impl Fn(&str) -> String) -> Vec<String> {
    groups
        .iter()
        .filter(|g| g.needs_update())
        .map(|g| {
            format!(
                "{} ({} of {} nodes)",
                name(&g.name),
                g.need_update,
                g.target
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLLING: &str = "NAME\t\t\t\tSTATUS\t\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX\tNODES
master-us-test-1a\tNeedsUpdate\t1\t\t0\t1\t1\t1\t1
nodes\t\t\t\tReady\t\t0\t\t2\t2\t2\t2\t2

Must specify --yes to rolling-update.
";

    #[test]
    fn rolling_update_table() {
        let groups = parse_rolling_update(ROLLING).unwrap().unwrap();
        assert_eq!(groups.len(), 2);
        assert!(groups[0].needs_update());
        assert_eq!(groups[0].nodes, Some(1));
        assert!(!groups[1].needs_update());
        assert_eq!(groups[1].min, 2);
    }

    #[test]
    fn rolling_update_without_nodes_column_and_no_table() {
        let text = "NAME STATUS NEEDUPDATE READY MIN TARGET MAX\nnodes Ready 0 2 2 2 2\n";
        let groups = parse_rolling_update(text).unwrap().unwrap();
        assert_eq!(groups[0].nodes, None);
        assert!(parse_rolling_update("No rolling-update required.\n").is_none());
        assert!(
            parse_rolling_update("NAME STATUS NEEDUPDATE\nx Ready many\n")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn delete_listing() {
        let text = "TYPE\t\t\tNAME\t\t\tID
autoscaling-config\tnodes.c.example.com\tlt-123
volume\t\t\ta.etcd-main.c.example.com\tvol-1

Must specify --yes to delete cluster
";
        let resources = parse_delete_listing(text).unwrap();
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[1].kind, "volume");
        assert_eq!(resources[1].id, "vol-1");
        assert!(parse_delete_listing("nothing\n").unwrap().is_empty());
    }
}
