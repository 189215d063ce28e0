//! The app's own log (tui-logger): what the control room did and what failed, for the user to
//! see without leaving the screen. The same lines go to the log file (see `ms-tui --help`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Borders};
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerWidget};

use super::theme;

pub fn draw(frame: &mut Frame, area: Rect) {
    if area.is_empty() {
        return;
    }
    // No timestamp: the pane is narrow and the file has them.
    let widget = TuiLoggerWidget::default()
        .block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(theme::dim())
                .title(" ms-tui log "),
        )
        .output_timestamp(None)
        .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
        .output_target(false)
        .output_file(false)
        .output_line(false)
        .style_error(Style::new().fg(Color::Red))
        .style_warn(Style::new().fg(Color::Yellow))
        .style_info(Style::new())
        .style_debug(theme::dim());
    frame.render_widget(widget, area);
}
