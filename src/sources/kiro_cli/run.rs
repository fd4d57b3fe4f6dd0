//! Running kiro-cli under a pseudo-terminal.
//!
//! kiro-cli 2.x may wait forever when it is not on a terminal, and current versions write the `/usage` panel
//! to stderr; under a pseudo-terminal both streams arrive on one reader, as a user sees them. The child is the
//! leader of a session of its own with the terminal as its controlling terminal, so when it is killed (timeout,
//! shutdown: the run's future is dropped and `kill_on_drop` sends SIGKILL) the kernel hangs up whatever it
//! started in that terminal.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::AsyncReadExt;

use super::parse::{parse_usage, strip_ansi};
use super::{CliError, CliUsage};

/// Output beyond this is not usage: the run fails instead of buffering it.
pub const MAX_OUTPUT: usize = 1 << 20;

/// The command every version understands.
pub const ARGS: [&str; 3] = ["chat", "--no-interactive", "/usage"];
/// What kiro-cli 2.20 and later need for the full panel when they print only the plan.
pub const LEGACY_ARGS: [&str; 5] = ["chat", "--no-interactive", "--agent-engine=v1", "--legacy-ui", "/usage"];

/// After the child has exited, output still held by something it started ends after this much silence
/// (normally the terminal reports its end at once and this is never waited for).
const DRAIN: Duration = Duration::from_millis(500);

/// Terminal size the child sees: wide enough that the panel's lines are not wrapped.
const ROWS: u16 = 50;
const COLS: u16 = 200;

/// Runs `<path> chat --no-interactive /usage` and parses what it prints. When that is the plan without any
/// figures, runs once more with `--agent-engine=v1 --legacy-ui`; if that gives none either, the answer is
/// [`CliError::NoFigures`] with the plan (which the monitor still exports).
pub async fn run(path: &Path, timeout: Duration, now: DateTime<Utc>) -> Result<CliUsage, CliError> {
    let first = run_once(path, &ARGS, timeout).await?;
    match parse_usage(&first, now) {
        Err(CliError::NoFigures { plan, .. }) => {
            let retry = match run_once(path, &LEGACY_ARGS, timeout).await {
                Ok(out) => parse_usage(&out, now),
                Err(e) => Err(e),
            };
            match retry {
                Ok(mut u) => {
                    if u.plan.is_empty() {
                        u.plan = plan;
                    }
                    Ok(u)
                }
                Err(e) => {
                    let why = match e {
                        CliError::NoFigures { .. } => "no figures either".to_owned(),
                        e => e.to_string(),
                    };
                    Err(CliError::NoFigures { plan, retry: Some(why) })
                }
            }
        }
        other => other,
    }
}

fn spawn_error(path: &str, e: pty_process::Error) -> CliError {
    match e {
        pty_process::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            CliError::NotFound { path: path.to_owned() }
        }
        e => CliError::Spawn { path: path.to_owned(), reason: e.to_string() },
    }
}

/// Whether the full-screen pane is on screen in full (it ends with `esc to close`). Only the recent output
/// is looked at, so a long run stays linear.
fn pane_complete(out: &[u8], new: usize) -> bool {
    let from = out.len().saturating_sub(new + 256);
    strip_ansi(&String::from_utf8_lossy(&out[from..])).to_ascii_lowercase().contains("esc to close")
}

/// One run: everything the child writes to its terminal, once it has exited with success (or once its
/// full-screen pane is complete, after which it is killed rather than waiting for a key).
async fn run_once(path: &Path, args: &[&str], timeout: Duration) -> Result<String, CliError> {
    let shown = path.display().to_string();
    let (mut pty, pts) = pty_process::open().map_err(|e| spawn_error(&shown, e))?;
    pty.resize(pty_process::Size::new(ROWS, COLS)).map_err(|e| spawn_error(&shown, e))?;
    let mut child = pty_process::Command::new(path)
        .args(args)
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .spawn(pts)
        .map_err(|e| spawn_error(&shown, e))?;
    let work = async {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        let mut exited = None;
        loop {
            tokio::select! {
                biased;
                r = pty.read(&mut buf) => match r {
                    // End of output: EOF, or EIO once the last process on the terminal has closed it.
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        out.extend_from_slice(&buf[..n]);
                        if out.len() > MAX_OUTPUT {
                            return Err(CliError::TooMuchOutput(MAX_OUTPUT));
                        }
                        if pane_complete(&out, n) {
                            let _ = child.start_kill();
                            let _ = child.wait().await;
                            return Ok(out);
                        }
                    }
                },
                status = child.wait(), if exited.is_none() => exited = Some(status),
                () = tokio::time::sleep(DRAIN), if exited.is_some() => break,
            }
        }
        let status = match exited {
            Some(status) => status,
            None => child.wait().await,
        }
        .map_err(|e| CliError::Spawn { path: shown.clone(), reason: e.to_string() })?;
        let text = String::from_utf8_lossy(&out).into_owned();
        if !status.success() {
            let lower = text.to_ascii_lowercase();
            if lower.contains("not logged in") || lower.contains("kiro-cli login") {
                return Err(CliError::NotLoggedIn);
            }
            let first = strip_ansi(&text).lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_owned();
            return Err(CliError::Exit { status: status.to_string(), stderr: first.chars().take(200).collect() });
        }
        Ok(out)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(out) => Ok(String::from_utf8_lossy(&out?).into_owned()),
        // Dropping `child` (kill_on_drop) kills the process.
        Err(_) => Err(CliError::Timeout(timeout)),
    }
}
