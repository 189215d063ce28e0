//! Child processes whose output becomes progress lines (compose, the image build script).

use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

/// Lines of the failing command's output quoted in its error.
const TAIL_LINES: usize = 15;

/// Runs `cmd`, sending each line of its stdout and stderr to `lines` as it comes; fails with
/// the last lines of output when it exits non-zero. `what` names it in messages.
pub async fn run_streaming(
    mut cmd: Command,
    what: &str,
    lines: &mpsc::UnboundedSender<String>,
) -> anyhow::Result<()> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let (tail_tx, mut tail_rx) = mpsc::unbounded_channel();
    let forward = |stream: Option<Box<dyn AsyncRead + Unpin + Send>>| {
        let (lines, tail) = (lines.clone(), tail_tx.clone());
        tokio::spawn(async move {
            let Some(stream) = stream else { return };
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tail.send(line.clone());
                let _ = lines.send(line);
            }
        })
    };
    let out = forward(child.stdout.take().map(|s| Box::new(s) as _));
    let err = forward(child.stderr.take().map(|s| Box::new(s) as _));
    drop(tail_tx);
    let status = child
        .wait()
        .await
        .with_context(|| format!("waiting for {what}"))?;
    let _ = tokio::join!(out, err);
    if status.success() {
        return Ok(());
    }
    let mut tail = Vec::new();
    while let Ok(line) = tail_rx.try_recv() {
        tail.push(line);
    }
    let last = tail[tail.len().saturating_sub(TAIL_LINES)..].join("\n");
    bail!("{what} failed ({status}):\n{last}")
}
