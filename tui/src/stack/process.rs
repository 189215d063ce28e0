//! Child processes whose output becomes progress lines (compose, the image build script).

use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::Progress;

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

/// Drives `run` (a command writing its lines to the sender of `lines`) to its end, each line a
/// [`Progress::Output`] as it comes, none lost after the command ended.
pub async fn forward_lines<P: FnMut(Progress) + ?Sized>(
    run: impl std::future::Future<Output = anyhow::Result<()>>,
    mut lines: mpsc::UnboundedReceiver<String>,
    progress: &mut P,
) -> anyhow::Result<()> {
    tokio::pin!(run);
    loop {
        tokio::select! {
            result = &mut run => {
                while let Ok(line) = lines.try_recv() {
                    progress(Progress::Output(line));
                }
                return result;
            }
            Some(line) = lines.recv() => progress(Progress::Output(line)),
        }
    }
}

/// [`run_streaming`] with its lines as progress.
pub async fn run_reporting_lines<P: FnMut(Progress) + ?Sized>(
    cmd: Command,
    what: &str,
    progress: &mut P,
) -> anyhow::Result<()> {
    let (tx, lines) = mpsc::unbounded_channel();
    forward_lines(run_streaming(cmd, what, &tx), lines, progress).await
}
