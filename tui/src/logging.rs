//! The app's own log: to the tui-logger pane and to a file, never to the terminal while the
//! control room is open (it would tear the screen). Before and after it — `ms-tui up`, the
//! start-up progress — warnings and errors also go to stderr.
//!
//! `MS_TUI_LOG` sets the filter (`info` by default; e.g. `debug` or `info,ms_tui=debug`);
//! `MS_TUI_LOG_FILE` the file (default: `$XDG_STATE_HOME/ms-tui/ms-tui.log`, else
//! `~/.local/state/ms-tui/ms-tui.log`). RUST_LOG is left to the services.

use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::filter::{EnvFilter, LevelFilter, filter_fn};
use tracing_subscriber::prelude::*;

pub const FILTER_ENV: &str = "MS_TUI_LOG";
pub const FILE_ENV: &str = "MS_TUI_LOG_FILE";
const DEFAULT_FILTER: &str = "info,bollard=warn,hyper=warn,hyper_util=warn";
/// Beyond this size the file is moved to `<name>.1` at start-up: one old run kept, no more.
const MAX_FILE_BYTES: u64 = 10 << 20;

/// While set, nothing is written to stderr (the control room owns the screen).
static SCREEN_OWNED: AtomicBool = AtomicBool::new(false);

/// Where the log file goes (see the module doc).
pub fn file_path() -> PathBuf {
    if let Some(path) = std::env::var_os(FILE_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let state_dir = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state_dir.join("ms-tui").join("ms-tui.log")
}

/// Installs the subscriber (once, at start-up). Returns the log file's path; when the file
/// cannot be opened the app still runs, logging to the pane only, and says so on stderr.
pub fn init() -> PathBuf {
    let path = file_path();
    let file = open(&path)
        .map_err(|e| eprintln!("ms-tui: cannot write the log file {}: {e}", path.display()))
        .ok();
    let filter =
        EnvFilter::try_from_env(FILTER_ENV).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let file_layer = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(Mutex::new(f))
    });
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_filter(LevelFilter::WARN)
        // lapin logs every failed connect at ERROR; during a broker outage an experiment
        // stages on purpose that is a screenful a second. Its callers say what the broker's
        // state means in their own words; the file keeps lapin's.
        .with_filter(filter_fn(|meta| {
            !SCREEN_OWNED.load(Ordering::Relaxed) && !meta.target().starts_with("lapin")
        }));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .with(tui_logger::TuiTracingSubscriberLayer);
    if registry.try_init().is_err() {
        eprintln!("ms-tui: logging was already set up");
    }
    // The pane's own level gate is open; the EnvFilter above decides.
    if let Err(e) = tui_logger::init_logger(tui_logger::LevelFilter::Trace) {
        eprintln!("ms-tui: the log pane is unavailable: {e}");
    }
    path
}

/// The control room takes the screen: stop writing to stderr until [`release_screen`].
pub fn own_screen() {
    SCREEN_OWNED.store(true, Ordering::Relaxed);
}

pub fn release_screen() {
    SCREEN_OWNED.store(false, Ordering::Relaxed);
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    if fs::metadata(path).is_ok_and(|m| m.len() > MAX_FILE_BYTES) {
        let mut old = path.clone().into_os_string();
        old.push(".1");
        fs::rename(path, old)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
