//! fastai's epoch table, printed live:
//!
//! ```text
//! epoch  train_loss  valid_loss  batch_accuracy  time
//! 0      0.636709    0.503144    0.495584        00:00
//! ```
//!
//! The column order (epoch, train_loss, valid_loss, the metrics, time) is a contract that outside
//! checks read.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use super::callback::{Callback, Control, FitState};

/// Prints the header before training and one row per epoch.
pub struct ProgressTable {
    out: Box<dyn Write + Send>,
    widths: Vec<usize>,
}

impl ProgressTable {
    /// Print to standard output.
    pub fn stdout() -> Self {
        Self::to(Box::new(std::io::stdout()))
    }

    /// Print to any writer (a file, a buffer in a test).
    pub fn to(out: Box<dyn Write + Send>) -> Self {
        Self {
            out,
            widths: Vec::new(),
        }
    }

    fn line(&mut self, cells: &[String]) {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(&self.widths).enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        let _ = writeln!(self.out, "{}", line.trim_end());
        let _ = self.out.flush();
    }
}

/// `mm:ss`, as fastai writes epoch times.
pub fn format_time(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

impl Callback for ProgressTable {
    fn before_fit(&mut self, s: &FitState) -> Control {
        let mut header: Vec<String> = ["epoch", "train_loss", "valid_loss"]
            .map(String::from)
            .to_vec();
        header.extend(s.metric_names.iter().cloned());
        header.push("time".into());
        // Wide enough for the name and for a 6-decimal value ("0.123456") or "00:00".
        self.widths = header.iter().map(|h| h.len().max(8)).collect();
        self.widths[0] = 5;
        self.line(&header);
        Control::Continue
    }

    fn after_epoch(&mut self, s: &FitState) -> Control {
        if let Some(v) = &s.epoch_values {
            let mut row = vec![
                v.epoch.to_string(),
                format!("{:.6}", v.train_loss),
                format!("{:.6}", v.valid_loss),
            ];
            row.extend(v.metrics.iter().map(|m| format!("{m:.6}")));
            row.push(format_time(v.seconds));
            self.line(&row);
        }
        Control::Continue
    }
}

/// A progress bar over an epoch's training batches, on standard error; hidden when that is not a terminal.
#[derive(Default)]
pub struct BatchBar {
    bar: Option<ProgressBar>,
}

impl BatchBar {
    fn start(&mut self, s: &FitState, phase: &str) {
        let bar = ProgressBar::new(s.n_iter as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}<{eta}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("epoch {} {phase}", s.epoch));
        self.bar = Some(bar);
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Callback for BatchBar {
    fn before_train(&mut self, s: &FitState) -> Control {
        self.start(s, "train");
        Control::Continue
    }
    fn after_batch(&mut self, _s: &FitState) -> Control {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        Control::Continue
    }
    fn after_train(&mut self, _s: &FitState) -> Control {
        self.finish();
        Control::Continue
    }
    fn after_fit(&mut self, _s: &FitState) -> Control {
        self.finish();
        Control::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learner::EpochValues;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn table_has_fastai_columns() {
        let buf = Buf::default();
        let mut t = ProgressTable::to(Box::new(buf.clone()));
        let mut s = FitState {
            metric_names: vec!["batch_accuracy".into()],
            ..Default::default()
        };
        t.before_fit(&s);
        s.epoch_values = Some(EpochValues {
            epoch: 0,
            train_loss: 0.636709,
            valid_loss: 0.503144,
            metrics: vec![0.495584],
            seconds: 1.4,
        });
        t.after_epoch(&s);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "epoch  train_loss  valid_loss  batch_accuracy  time\n\
             0      0.636709    0.503144    0.495584        00:01\n"
        );
        assert_eq!(format_time(75.0), "01:15");
    }
}
