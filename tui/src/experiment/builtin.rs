//! The experiments shipped in the binary (`ms-tui run backlog` works from any directory), the
//! same files as `experiments/*.toml` to copy and edit; and how a command-line argument
//! becomes a plan: a built-in's name or a file's path.

use std::path::Path;

use super::spec::{self, Experiment};

/// A built-in: its name and its file's text.
pub struct Builtin {
    pub name: &'static str,
    pub text: &'static str,
}

macro_rules! builtin {
    ($name:literal) => {
        Builtin {
            name: $name,
            text: include_str!(concat!("../../../experiments/", $name, ".toml")),
        }
    };
}

/// In the order `--list` and the picker show them: the seed's showdown first, then by the
/// failure they stage.
pub const BUILTINS: &[Builtin] = &[
    builtin!("showdown"),
    builtin!("backlog"),
    builtin!("broker-outage"),
    builtin!("saga-storm"),
    builtin!("slow-dependency"),
    builtin!("partition"),
    builtin!("pool-exhaustion"),
];

/// The built-ins, checked (each is tested to parse).
pub fn all() -> Vec<Experiment> {
    BUILTINS
        .iter()
        .filter_map(|b| spec::parse(b.text, &origin(b.name)).ok())
        .collect()
}

fn origin(name: &str) -> String {
    format!("built-in {name}")
}

/// `arg` as a built-in's name, else as a path to a TOML file.
pub fn load(arg: &str) -> Result<Experiment, String> {
    if let Some(builtin) = BUILTINS.iter().find(|b| b.name == arg) {
        return spec::parse(builtin.text, &origin(builtin.name)).map_err(|e| e.to_string());
    }
    let path = Path::new(arg);
    if !path.exists() {
        let names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
        return Err(format!(
            "`{arg}` is neither a built-in experiment ({}) nor a file",
            names.join(", ")
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{arg}: {e}"))?;
    spec::parse(&text, arg).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_named_as_its_file() {
        for builtin in BUILTINS {
            let plan = spec::parse(builtin.text, builtin.name)
                .unwrap_or_else(|e| panic!("{}: {e}", builtin.name));
            assert_eq!(plan.name, builtin.name);
            assert!(!plan.lesson.is_empty());
        }
        assert_eq!(all().len(), BUILTINS.len());
    }

    #[test]
    fn an_unknown_name_lists_the_builtins() {
        let e = load("no-such-experiment").unwrap_err();
        assert!(e.contains("backlog") && e.contains("showdown"), "{e}");
    }
}
