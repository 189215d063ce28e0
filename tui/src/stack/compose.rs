//! Running compose: v2 (`docker compose`) when this Docker has it, else v1 (`docker-compose`,
//! Debian's package), always as project `ms-tui` on `compose/docker-compose.yml` (with the
//! broker cluster's layer when `compose/.env` asks for it) and `compose/.env`. Output lines are handed to the caller as they come.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::process::run_streaming;
use super::{Layout, PROJECT};

/// Which compose implementation to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compose {
    /// The program and the arguments before compose's own (`docker compose` or `docker-compose`).
    argv: Vec<String>,
}

impl Compose {
    /// `MS_COMPOSE` (e.g. `docker-compose`) when set, else v2, else v1.
    pub async fn detect() -> anyhow::Result<Compose> {
        if let Ok(explicit) = std::env::var("MS_COMPOSE") {
            let argv: Vec<String> = explicit.split_whitespace().map(str::to_owned).collect();
            if argv.is_empty() {
                bail!("MS_COMPOSE is empty");
            }
            return Ok(Compose { argv });
        }
        for argv in [vec!["docker", "compose"], vec!["docker-compose"]] {
            let ok = Command::new(argv[0])
                .args(&argv[1..])
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .stdin(Stdio::null())
                .status()
                .await
                .is_ok_and(|status| status.success());
            if ok {
                return Ok(Compose {
                    argv: argv.into_iter().map(str::to_owned).collect(),
                });
            }
        }
        bail!(
            "neither `docker compose` (v2) nor `docker-compose` (v1) works here: install one \
             (Debian: apt-get install docker-compose)"
        )
    }

    /// How it is called, for messages.
    pub fn describe(&self) -> String {
        self.argv.join(" ")
    }

    /// A compose command on the project, with `env` as extra environment (used when
    /// `compose/.env` does not exist and compose still wants its variables to be set).
    fn command(&self, layout: &Layout, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]).arg("--project-name").arg(PROJECT);
        for file in layout.compose_files() {
            cmd.arg("--file").arg(file);
        }
        if layout.env_file().exists() {
            cmd.arg("--env-file").arg(layout.env_file());
        }
        cmd.args(args)
            // v1 gives up on a Docker API call after 60 s, which a busy 2-core host exceeds
            // while the stack's containers start; v2 ignores it.
            .env("COMPOSE_HTTP_TIMEOUT", "600")
            .envs(env.iter().copied())
            .current_dir(layout.root())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs compose with `args`, sending every output line (stdout and stderr) to `lines`;
    /// fails with the last lines when compose exits non-zero.
    pub async fn run(
        &self,
        layout: &Layout,
        args: &[&str],
        env: &[(&str, &str)],
        lines: &mpsc::UnboundedSender<String>,
    ) -> anyhow::Result<()> {
        let what = format!("`{} {}`", self.describe(), args.join(" "));
        run_streaming(self.command(layout, args, env), &what, lines).await
    }

    /// Runs compose and returns its standard output (for `config --services`).
    pub async fn output(
        &self,
        layout: &Layout,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        let output = self
            .command(layout, args, env)
            .output()
            .await
            .with_context(|| format!("starting {}", self.describe()))?;
        if !output.status.success() {
            bail!(
                "`{} {}` failed: {}",
                self.describe(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// Values that satisfy the compose file's required variables when `compose/.env` is missing:
/// `down` and `config --services` interpolate the file but use none of them.
pub const PLACEHOLDER_ENV: [(&str, &str); 5] = [
    ("RABBITMQ_USER", "unused"),
    ("RABBITMQ_PASSWORD", "unused"),
    ("POSTGRES_USER", "unused"),
    ("POSTGRES_PASSWORD", "unused"),
    ("MS_ADMIN_TOKEN", "unused"),
];

/// True when `path` looks like the repository root (it holds the compose file).
pub fn is_root(path: &Path) -> bool {
    path.join("compose").join("docker-compose.yml").is_file()
}
