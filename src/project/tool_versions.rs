//! Tool versions per cluster and per stage (issue 22): `[clusters.dev] tools = { kops = "1.31.2" }`
//! over `[stage-tools.<stage>]` over the version pin of `[tools]`. Which version a cluster wants,
//! which binary runs it (`kops-1.31.2` beside the `[tools]` binary or on PATH, or the `[tools]`
//! command with `{version}` in its path, e.g. `tools/kops/{version}/kops`), and the check that
//! the binary found reports that version, which refuses a run before anything runs.
//! In: the project, a cluster. Out: the program of a tool for that cluster, errors naming the
//! cluster, the tool, the version wanted and what was found.

use std::path::{Path, PathBuf};

use crate::project::cluster::ClusterDef;
use crate::project::schema::Config;
use crate::tools::process;

/// The version of a tool a cluster must run, and which table says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) version: String,
    /// `[clusters.dev] tools`, `[stage-tools.prod]` or `[tools]`.
    pub(crate) from: String,
    /// Whether a cluster or a stage says it (rather than `[tools]`): then the binary is looked
    /// up by its version.
    pub(crate) own: bool,
}

/// The binary a cluster runs for a tool.
#[derive(Debug, Clone)]
pub(crate) struct ToolBinary {
    /// The program string for the spawner (executable, then the `[tools]` command's arguments).
    pub(crate) program: String,
    /// The places looked at for the wanted version, in order, when none was there (the
    /// `[tools]` binary stands in, and its version check then says what it is).
    pub(crate) looked: Vec<String>,
}

/// The placeholder of a `[tools]` path that holds the version (`tools/kops/{version}/kops`).
pub(crate) const VERSION_PLACEHOLDER: &str = "{version}";

/// The tables' versions, checked when the file is read: the tools are pinnable ones, the versions
/// are versions, the stages exist; each error names the table and key.
pub(crate) fn check(config: &Config) -> Result<(), String> {
    let check_one = |table: &str, tool: &str, version: &str| -> Result<(), String> {
        if crate::project::pins::pinnable(tool).is_none() {
            let names: Vec<&str> = crate::project::pins::PINNABLE
                .iter()
                .map(|p| p.name)
                .collect();
            return Err(format!(
                "{table} {tool}: only {} can be given a version; remove `{tool}`",
                names.join(", ")
            ));
        }
        if !crate::project::pins::is_version(version) {
            return Err(format!(
                "{table} {tool} = {version:?} is not a version; write the exact version the tool prints, e.g. {tool} = \"1.31.2\""
            ));
        }
        Ok(())
    };
    for (id, cluster) in config
        .clusters
        .iter()
        .map(|(id, c)| (format!("[clusters.{id}] tools:"), c))
        .chain(
            config
                .cluster
                .iter()
                .map(|c| ("[cluster] tools:".to_string(), c)),
        )
    {
        for (tool, version) in &cluster.tools {
            check_one(&id, tool, version)?;
        }
    }
    for (stage, tools) in &config.stage_tools {
        let named = config
            .clusters
            .values()
            .chain(config.cluster.iter())
            .any(|c| c.stage.as_ref().is_some_and(|s| s.to_string() == *stage));
        if !named && !config.stages.contains(stage) {
            return Err(format!(
                "[stage-tools.{stage}]: no cluster is in stage `{stage}`; name a stage of `stages` or of a cluster's `stage`"
            ));
        }
        for (tool, version) in tools {
            check_one(&format!("[stage-tools.{stage}]"), tool, version)?;
        }
    }
    for (name, entry) in &config.tools {
        let words = entry.words(name);
        if words
            .iter()
            .skip(1)
            .any(|w| w.contains(VERSION_PLACEHOLDER))
        {
            return Err(format!(
                "[tools] {name}: `{VERSION_PLACEHOLDER}` goes in the program's path only, not in its arguments"
            ));
        }
        if words[0].contains(VERSION_PLACEHOLDER) && entry.pin.is_none() {
            let every = config
                .clusters
                .values()
                .chain(config.cluster.iter())
                .all(|c| {
                    c.tools.contains_key(name)
                        || c.stage.as_ref().is_some_and(|s| {
                            config
                                .stage_tools
                                .get(&s.to_string())
                                .is_some_and(|t| t.contains_key(name))
                        })
                });
            if !every || (config.clusters.is_empty() && config.cluster.is_none()) {
                return Err(format!(
                    "[tools] {name}: the path holds `{VERSION_PLACEHOLDER}` but [tools] pins no version; add version = \"X.Y.Z\" (the default), or give every cluster one in its `tools`"
                ));
            }
        }
    }
    Ok(())
}

/// The version of the tool `name` the cluster `def` runs: its own `tools`, else its stage's
/// `[stage-tools]`, else the pin of `[tools]`; `None` when nothing pins it.
pub(crate) fn wanted(config: &Config, name: &str, def: Option<&ClusterDef>) -> Option<Wanted> {
    if let Some(def) = def {
        if let Some(version) = def.config.tools.get(name) {
            return Some(Wanted {
                version: version.clone(),
                from: format!("{} tools", cluster_table(config, def)),
                own: true,
            });
        }
        if let Some(stage) = &def.config.stage {
            let stage = stage.to_string();
            if let Some(version) = config.stage_tools.get(&stage).and_then(|t| t.get(name)) {
                return Some(Wanted {
                    version: version.clone(),
                    from: format!("[stage-tools.{stage}]"),
                    own: true,
                });
            }
        }
    }
    let pin = config.tools.get(name)?.pin.as_ref()?;
    Some(Wanted {
        version: pin.version.clone(),
        from: "[tools]".to_string(),
        own: false,
    })
}

/// `[cluster]` or `[clusters.<id>]`, as messages name the cluster's table.
pub(crate) fn cluster_table(config: &Config, def: &ClusterDef) -> String {
    if config.cluster.is_some() {
        "[cluster]".to_string()
    } else {
        format!("[clusters.{}]", def.id)
    }
}

/// The binary that runs the tool `name` at the version `wanted`, from `base`, the `[tools]`
/// program: `{version}` in its path replaced; or, when a cluster or its stage wants the version,
/// `<program>-<version>` beside the `[tools]` binary, else `<name>-<version>` on PATH, else the
/// `[tools]` binary itself (whose version check then refuses it when it is another version).
pub(crate) fn binary(base: String, name: &str, wanted: Option<&Wanted>) -> ToolBinary {
    let (exe, args) = process::split_program(&base);
    let with_args = |exe: &str| {
        let mut words = vec![exe.to_string()];
        words.extend(args.iter().map(|a| a.to_string()));
        process::join_program(&words)
    };
    let Some(wanted) = wanted else {
        return ToolBinary {
            program: base.clone(),
            looked: Vec::new(),
        };
    };
    if exe.contains(VERSION_PLACEHOLDER) {
        return ToolBinary {
            program: with_args(&exe.replace(VERSION_PLACEHOLDER, &wanted.version)),
            looked: Vec::new(),
        };
    }
    if !wanted.own {
        return ToolBinary {
            program: base.clone(),
            looked: Vec::new(),
        };
    }
    let mut looked = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(found) = process::locate(exe)
        && let (Some(dir), Some(file)) = (found.parent(), found.file_name())
    {
        let beside = dir.join(format!("{}-{}", file.to_string_lossy(), wanted.version));
        looked.push(format!("{} (beside the [tools] {name})", beside.display()));
        candidates.push(beside);
    }
    let on_path = format!("{name}-{}", wanted.version);
    looked.push(format!("{on_path} on PATH"));
    if let Some(found) = candidates
        .into_iter()
        .find(|p| process::locate(&p.to_string_lossy()).is_some())
        .or_else(|| process::locate(&on_path))
    {
        return ToolBinary {
            program: with_args(&found.to_string_lossy()),
            looked: Vec::new(),
        };
    }
    ToolBinary {
        program: base,
        looked,
    }
}

/// What is wrong with `binary`, which the cluster `def` runs for the tool `name` at the version
/// `wanted` (asked in `cwd` with `env`): `None` when it reports that version. The message names
/// the cluster, the tool, the version wanted, where the version was looked for and what was found.
pub(crate) fn mismatch(
    config: &Config,
    name: &str,
    def: Option<&ClusterDef>,
    wanted: &Wanted,
    binary: &ToolBinary,
    cwd: &Path,
    env: &[(String, String)],
) -> Option<String> {
    if !wanted.own {
        let pin = config.tools.get(name)?.pin.as_ref()?;
        let pin = crate::project::schema::ToolPin {
            version: wanted.version.clone(),
            ..pin.clone()
        };
        return crate::project::pins::mismatch(name, &pin, &binary.program, cwd, env);
    }
    let cluster = def
        .map(|d| format!("cluster `{}`: ", d.id))
        .unwrap_or_default();
    let found = crate::project::pins::found(name, &binary.program, cwd, env);
    let shown = located(&binary.program);
    let wants = format!("{} wants {name} {}", wanted.from, wanted.version);
    match found {
        Ok(found) if found == wanted.version => None,
        Ok(found) if binary.looked.is_empty() => Some(format!(
            "{cluster}{wants}, but {shown} is {name} {found}; install {name} {} there (or change the version)",
            wanted.version
        )),
        Ok(found) => Some(format!(
            "{cluster}{wants}, but there is no {name} {} (looked for {}), and the [tools] {name}, {shown}, is {name} {found}; install {name} {} as {name}-{} beside it or on PATH (or change the version)",
            wanted.version,
            binary.looked.join(", "),
            wanted.version,
            wanted.version
        )),
        Err(why) => Some(format!(
            "{cluster}{wants}, but its version could not be read from {shown}{}: {why}",
            if binary.looked.is_empty() {
                String::new()
            } else {
                format!(" (looked for {})", binary.looked.join(", "))
            }
        )),
    }
}

/// Where a program is, for a message: its path, else its name.
pub(crate) fn located(program: &str) -> String {
    process::locate(program)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| process::shown_program(program))
}
