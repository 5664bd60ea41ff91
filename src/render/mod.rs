//! Values in, files out: the template engines (strict handlebars, and Go templates as
//! `kops toolbox template` renders them), the checks a rendered kops manifest must pass before kops
//! sees it, and the Terraform provider override file. Knows nothing of where the values came from.

pub(crate) mod compile;
pub(crate) mod go_template;
pub(crate) mod kops_yaml;
pub(crate) mod manifest;
pub(crate) mod provider_override;
pub(crate) mod shape;
pub(crate) mod step;
pub(crate) mod structure;
pub(crate) mod template;
pub(crate) mod yaml_out;
