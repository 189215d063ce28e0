//! The keymap: which key means what, in one place, and the help text that lists it (the `?`
//! overlay and `ms-tui --help` both print [`HELP`]).
//!
//! `k` kills the selected container (the issue's key), so `k` cannot also mean "up" the way it
//! does in vim: navigation is the arrows plus `Ctrl-p` / `Ctrl-n`, and no plain letter moves the
//! selection. A vim user's reflexive `k` then meets the kill confirmation, not a silent kill.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for, before the state decides whether it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Quit,
    ToggleHelp,
    FocusNext,
    FocusPrevious,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// `G`: the logs follow again.
    Follow,
    /// `/`: type a logs filter.
    Filter,
    /// `Esc`: close what is open, or clear the filter.
    Escape,
    /// `a`: logs of all containers, or of the selected one.
    ToggleLogScope,
    Kill,
    StopStart,
    PauseUnpause,
    Restart,
    /// `1`–`8`: select that scenario.
    Scenario(u8),
    /// `Enter`: fire the selected scenario once in both modes.
    Fire,
    /// `l`: start or stop load on the selected scenario.
    ToggleLoad,
    /// `+` / `-`: the load rate one step up or down.
    RateUp,
    RateDown,
    /// `f`, `d`, `w`, `c`: the next value of a run-time knob.
    Knob(crate::admin::Knob),
    /// `i`: the fault menu on the selected container.
    FaultMenu,
    /// `x`: revert every active fault.
    RevertFaults,
    /// `t`: the timeline beside the other panes, or not.
    ToggleChart,
    /// `v`: the next view (measure, timeline, operate).
    NextView,
    /// `e`: the experiment picker, or the running experiment's progress.
    Experiment,
    /// `]` / `[`: one consumer more / fewer for the selected async service.
    ScaleUp,
    ScaleDown,
}

/// The intent of a key in the normal (no prompt) mode.
pub fn intent(key: KeyEvent) -> Option<Intent> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c') if ctrl => Intent::Quit,
        KeyCode::Char('p') if ctrl => Intent::Up,
        KeyCode::Char('n') if ctrl => Intent::Down,
        _ if ctrl => return None,
        KeyCode::Char('q') => Intent::Quit,
        KeyCode::Char('?') => Intent::ToggleHelp,
        KeyCode::Tab => Intent::FocusNext,
        KeyCode::BackTab => Intent::FocusPrevious,
        KeyCode::Up => Intent::Up,
        KeyCode::Down => Intent::Down,
        KeyCode::PageUp => Intent::PageUp,
        KeyCode::PageDown => Intent::PageDown,
        KeyCode::Home => Intent::Home,
        KeyCode::End => Intent::End,
        KeyCode::Char('G') => Intent::Follow,
        KeyCode::Char('/') => Intent::Filter,
        KeyCode::Esc => Intent::Escape,
        KeyCode::Char('a') => Intent::ToggleLogScope,
        KeyCode::Char('k') => Intent::Kill,
        KeyCode::Char('s') => Intent::StopStart,
        KeyCode::Char('p') => Intent::PauseUnpause,
        KeyCode::Char('r') => Intent::Restart,
        KeyCode::Char(c @ '1'..='8') => Intent::Scenario(c as u8 - b'0'),
        KeyCode::Enter => Intent::Fire,
        KeyCode::Char('l') => Intent::ToggleLoad,
        KeyCode::Char('+') | KeyCode::Char('=') => Intent::RateUp,
        KeyCode::Char('-') => Intent::RateDown,
        KeyCode::Char('f') => Intent::Knob(crate::admin::Knob::FailureRate),
        KeyCode::Char('d') => Intent::Knob(crate::admin::Knob::EmailDelay),
        KeyCode::Char('w') => Intent::Knob(crate::admin::Knob::SyncLimit),
        KeyCode::Char('c') => Intent::Knob(crate::admin::Knob::Concurrency),
        KeyCode::Char('i') => Intent::FaultMenu,
        KeyCode::Char('x') => Intent::RevertFaults,
        KeyCode::Char('t') => Intent::ToggleChart,
        KeyCode::Char('v') => Intent::NextView,
        KeyCode::Char('e') => Intent::Experiment,
        KeyCode::Char(']') => Intent::ScaleUp,
        KeyCode::Char('[') => Intent::ScaleDown,
        _ => return None,
    })
}

/// Every key, grouped as the help overlay shows it: (section, [(keys, meaning)]).
pub const HELP: &[(&str, &[(&str, &str)])] = &[
    (
        "Anywhere",
        &[
            ("?", "this help (Esc or ? closes it)"),
            (
                "q, Ctrl-c",
                "quit (the stack keeps running; `ms-tui down` stops it)",
            ),
            ("Tab, Shift-Tab", "next / previous pane"),
            (
                "↑ ↓, Ctrl-p Ctrl-n",
                "move in the focused pane (k is kill, not up)",
            ),
            ("PgUp PgDn, Home End", "page / jump in the focused pane"),
            (
                "v",
                "next view: measure → timeline → operate (full screen each)",
            ),
            ("t", "the timeline beside the other panes, or not"),
        ],
    ),
    (
        "Scenarios and load",
        &[
            (
                "1 … 8",
                "select scenario S1 … S8 (its lesson, latency and queues show)",
            ),
            (
                "Enter",
                "fire the selected scenario once, sync and async at the same moment",
            ),
            ("l", "start / stop load on it (both modes, open model)"),
            (
                "+ -",
                "load rate one step up / down (capped by the catalogue)",
            ),
            (
                "e",
                "experiments: ↑ ↓ j k choose, Enter runs one (l's load stops first)",
            ),
            (
                "  e, Esc or s",
                "while it runs: its progress / stop it (y/n first; a partial report)",
            ),
        ],
    ),
    (
        "Run-time knobs (every service's admin API)",
        &[
            ("f", "payment failure rate: 1 → 0.3 → 0 (S5's saga)"),
            ("d", "e-mail delay: 500 → 100 → 2000 ms (both modes)"),
            (
                "w",
                "sync worker limit: off → 10 → 40 in flight per sync service",
            ),
            (
                "c",
                "consumer concurrency: 16 → 128 → 1 on the scenario's async consumers",
            ),
            (
                "",
                "a restarted service gets the knobs set here again (the log says which)",
            ),
        ],
    ),
    (
        "Selected container",
        &[
            ("k", "kill (SIGKILL, like a crash)"),
            ("s", "stop, or start when it is stopped"),
            ("p", "pause (frozen: connected but silent), or unpause"),
            ("r", "restart"),
            (
                "] [",
                "async service: one consumer replica more / fewer (rows └ #2 …)",
            ),
            (
                "",
                "kill, stop, pause, restart and [ ask y/n first, except with --demo",
            ),
        ],
    ),
    (
        "Faults (each ends by itself; a marker on the timeline)",
        &[
            (
                "i",
                "fault menu on the selected container: latency, errors, slow consumer, …",
            ),
            (
                "  ↑ ↓, + -",
                "in the menu: choose the fault / its duration (30 s)",
            ),
            ("  Enter, Esc", "in the menu: inject it (y/n first) / close"),
            ("x", "revert every active fault now (y/n first)"),
        ],
    ),
    (
        "Logs",
        &[
            ("a", "all containers interleaved / only the selected one"),
            (
                "/",
                "filter (case-insensitive text, e.g. a correlation id); Enter keeps it",
            ),
            ("Esc", "clear the filter"),
            ("↑ PgUp Home", "scroll back (pauses follow)"),
            ("G, End", "follow the newest lines again"),
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn k_kills_and_never_moves() {
        assert_eq!(intent(key(KeyCode::Char('k'))), Some(Intent::Kill));
        assert_eq!(intent(key(KeyCode::Char('j'))), None);
        assert_eq!(
            intent(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL)),
            Some(Intent::Up)
        );
        assert_eq!(intent(key(KeyCode::Char('p'))), Some(Intent::PauseUnpause));
    }

    #[test]
    fn digits_select_scenarios_and_nine_does_nothing() {
        assert_eq!(intent(key(KeyCode::Char('1'))), Some(Intent::Scenario(1)));
        assert_eq!(intent(key(KeyCode::Char('8'))), Some(Intent::Scenario(8)));
        assert_eq!(intent(key(KeyCode::Char('9'))), None);
        assert_eq!(intent(key(KeyCode::Enter)), Some(Intent::Fire));
        assert_eq!(intent(key(KeyCode::Char('='))), Some(Intent::RateUp));
    }

    #[test]
    fn fault_and_view_keys() {
        assert_eq!(intent(key(KeyCode::Char('i'))), Some(Intent::FaultMenu));
        assert_eq!(intent(key(KeyCode::Char('x'))), Some(Intent::RevertFaults));
        assert_eq!(intent(key(KeyCode::Char('t'))), Some(Intent::ToggleChart));
        assert_eq!(intent(key(KeyCode::Char('v'))), Some(Intent::NextView));
        assert_eq!(intent(key(KeyCode::Char('e'))), Some(Intent::Experiment));
    }

    #[test]
    fn c_turns_the_concurrency_and_ctrl_c_still_quits() {
        assert_eq!(
            intent(key(KeyCode::Char('c'))),
            Some(Intent::Knob(crate::admin::Knob::Concurrency))
        );
        assert_eq!(
            intent(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Intent::Quit)
        );
    }

    #[test]
    fn ctrl_c_quits_and_other_ctrl_letters_do_nothing() {
        assert_eq!(
            intent(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Intent::Quit)
        );
        assert_eq!(
            intent(KeyEvent::new(KeyCode::Char('k'), KeyModifiers::CONTROL)),
            None,
            "Ctrl-k must not kill"
        );
    }
}
