//! Views, k9s style: on a terminal too short for every pane at once (a default 80×24 one),
//! `v` cycles full-screen views — measure, timeline, operate — starting with measure, the
//! product's point. A tall terminal starts with everything on one screen and `v` adds the
//! three views to the cycle.

/// Terminal rows below which not every pane fits: the measurement band folds, views take over.
pub const SMALL_HEIGHT: u16 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// Every pane (a tall terminal); shown as [`View::Measure`] on a small one.
    #[default]
    All,
    /// Scenarios, sync | async latency, queues and the active faults.
    Measure,
    /// The sync and async charts with their markers, full screen.
    Timeline,
    /// Containers, logs and the active faults.
    Operate,
}

impl View {
    /// The view after this one on a terminal `height` rows tall.
    pub fn next(self, height: u16) -> View {
        match (self.shown(height), height < SMALL_HEIGHT) {
            (View::All, _) => View::Measure,
            (View::Measure, _) => View::Timeline,
            (View::Timeline, _) => View::Operate,
            (View::Operate, true) => View::Measure,
            (View::Operate, false) => View::All,
        }
    }

    /// What is drawn at `height` rows: everything cannot fit on a small terminal.
    pub fn shown(self, height: u16) -> View {
        if self == View::All && height < SMALL_HEIGHT {
            View::Measure
        } else {
            self
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            View::All => "all",
            View::Measure => "measure",
            View::Timeline => "timeline",
            View::Operate => "operate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_terminal_cycles_three_views_from_measure() {
        let mut view = View::default();
        assert_eq!(view.shown(24), View::Measure);
        let mut seen = Vec::new();
        for _ in 0..4 {
            view = view.next(24);
            seen.push(view);
        }
        assert_eq!(
            seen,
            [View::Timeline, View::Operate, View::Measure, View::Timeline]
        );
    }

    #[test]
    fn a_tall_terminal_adds_the_whole_screen() {
        let mut view = View::default();
        let mut seen = vec![view];
        for _ in 0..4 {
            view = view.next(50);
            seen.push(view);
        }
        assert_eq!(
            seen,
            [
                View::All,
                View::Measure,
                View::Timeline,
                View::Operate,
                View::All
            ]
        );
    }
}
