//! `kopsform review PLAN`: a saved plan as a pull-request comment (Markdown) or JSON. Needs no
//! project; inside one, its `[review]` and `[tools]` settings apply.

use crate::cli;
use crate::error::UserError;
use crate::project::Project;

/// `kopsform review`: needs no project, but inside one its `[review]` and `[tools]` settings apply.
pub(crate) fn command(
    global: &cli::GlobalArgs,
    cwd: &std::path::Path,
    args: &cli::ReviewArgs,
) -> Result<(), UserError> {
    let project = match Project::locate(global.directory.as_deref(), cwd) {
        Ok(dir) => Some(Project::load(dir)?),
        Err(_) if global.directory.is_none() => None,
        Err(e) => return Err(e),
    };
    let mut args = args.clone();
    if global.json {
        args.format = cli::ReviewFormat::Json;
    }
    let mut request = args.request();
    // The secrets of kopsform's environment (SECRET_ENV, the project's `secret-env`) are hidden
    // in the review even where the plan does not mark them sensitive.
    let secret_env = project
        .as_ref()
        .map(|p| p.config.secret_env.clone())
        .unwrap_or_default();
    request.secrets = crate::redact::Redactor::new(&secret_env).masks();
    match crate::review::request::run(project.as_ref(), &request, None, &[])? {
        crate::review::protect::EXIT_NO_CHANGES => Ok(()),
        // An empty message carries only the exit status ("changes", "protected changes").
        code => Err(UserError::with_code(String::new(), code)),
    }
}
