//! The progress bar of `redcheck verify`, and releasing a mapped file's
//! pages behind the verifier: both happen when the driver reports a batch
//! as done.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use redcheck::driver::Progress;
use redcheck::source::Source;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

/// Release pages in steps of this many bytes: one madvise per step.
const RELEASE_STEP: u64 = 32 << 20;

pub struct Tracker<'s> {
    bar: Option<ProgressBar>,
    source: &'s Source,
    released: AtomicU64,
}

impl<'s> Tracker<'s> {
    /// A bar on standard error only when `show` (the caller passes false
    /// for `--quiet`, `--json` and several inputs) and both standard output
    /// and standard error are terminals: output going to a pipe or a file
    /// means a script is reading it.
    pub fn new(source: &'s Source, show: bool) -> Tracker<'s> {
        let interactive = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
        let bar = (show && interactive).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(source.len() as u64),
                ProgressDrawTarget::stderr_with_hz(10),
            );
            if let Ok(style) = ProgressStyle::with_template(
                "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} ETA {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Tracker {
            bar,
            source,
            released: AtomicU64::new(0),
        }
    }

    /// Removes the bar before the report is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Tracker<'_> {
    fn passed(&self, start: u64, end: u64) {
        self.source.release(start as usize, end as usize);
    }

    fn consumed(&self, offset: u64, keys: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(offset);
            bar.set_message(format!("{keys} keys"));
        }
        let from = self.released.load(Ordering::Relaxed);
        if offset >= from + RELEASE_STEP {
            self.source.release(from as usize, offset as usize);
            self.released.store(offset, Ordering::Relaxed);
        }
    }
}
