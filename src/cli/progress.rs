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
    /// The mapped file, whose pages are released behind the verifier; none
    /// for a stream.
    source: Option<&'s Source>,
    released: AtomicU64,
}

impl<'s> Tracker<'s> {
    /// For a file: a bar with bytes, keys, rate and ETA (see [`bar`]), and
    /// its pages released behind the verifier.
    pub fn new(source: &'s Source, show: bool) -> Tracker<'s> {
        Tracker {
            bar: bar(Some(source.len() as u64), show),
            source: Some(source),
            released: AtomicU64::new(0),
        }
    }

    /// For a stream, whose length is not known: bytes, keys and rate,
    /// without a bar or an ETA.
    pub fn stream(show: bool) -> Tracker<'static> {
        Tracker {
            bar: bar(None, show),
            source: None,
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
        if let Some(source) = self.source {
            source.release(start as usize, end as usize);
        }
    }

    fn consumed(&self, offset: u64, keys: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(offset);
            bar.set_message(format!("{keys} keys"));
        }
        let from = self.released.load(Ordering::Relaxed);
        if let Some(source) = self.source
            && offset >= from + RELEASE_STEP
        {
            source.release(from as usize, offset as usize);
            self.released.store(offset, Ordering::Relaxed);
        }
    }
}

/// A bar on standard error only when `show` (the caller passes false for
/// `--quiet`, `--json` and several inputs) and both standard output and
/// standard error are terminals: output going to a pipe or a file means a
/// script is reading it. `len` is the input's size, when known.
fn bar(len: Option<u64>, show: bool) -> Option<ProgressBar> {
    let interactive = std::io::stderr().is_terminal() && std::io::stdout().is_terminal();
    (show && interactive).then(|| {
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr_with_hz(10));
        let template = match len {
            Some(_) => "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} ETA {eta}",
            None => "{spinner} {bytes} {binary_bytes_per_sec} {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar
    })
}
