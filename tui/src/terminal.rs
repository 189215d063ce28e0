//! The terminal while the control room runs: raw mode, the alternate screen, a hidden cursor —
//! and their undoing, whatever the exit: normal return (the guard's `Drop`), a panic anywhere
//! (the hook), or a signal (the app loop returns, dropping the guard).

use std::io::{self, Stdout, stdout};

use crossterm::ExecutableCommand;
use crossterm::cursor::Show;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Backend = CrosstermBackend<Stdout>;

/// The terminal in control-room mode; dropping it gives the terminal back.
pub struct Tui {
    pub terminal: Terminal<Backend>,
}

impl Tui {
    /// Switches the terminal over. The panic hook goes in first, so even a failure half-way
    /// leaves a usable shell.
    pub fn enter() -> io::Result<Tui> {
        install_panic_hook();
        enable_raw_mode()?;
        let mut out = stdout();
        if let Err(e) = out.execute(EnterAlternateScreen) {
            restore();
            return Err(e);
        }
        let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
        terminal.hide_cursor()?;
        terminal.clear()?;
        Ok(Tui { terminal })
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor. Safe to call more than once
/// and from the panic hook (errors are ignored: there is nothing better to do with them).
pub fn restore() {
    let _ = disable_raw_mode();
    let mut out = stdout();
    let _ = out.execute(LeaveAlternateScreen);
    let _ = out.execute(Show);
}

/// On a panic — in the app task or any worker — restore the terminal, record the panic in the
/// log file, print it, and exit: a half-dead control room that still draws is worse than none.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        tracing::error!("panic: {info}");
        previous(info);
        eprintln!("ms-tui stopped on an internal error; the log file has the details.");
        std::process::exit(101);
    }));
}
