//! fastai's epoch table, printed live:
//!
//! ```text
//! epoch  train_loss  valid_loss  batch_accuracy  time
//! 0      0.636709    0.503144    0.495584        00:00
//! ```
//!
//! The column order (epoch, train_loss, valid_loss, the metrics, time) is a contract that outside
//! checks read.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use super::base::{FitState, Learner};
use super::callback::{Callback, Control, EpochValues};
use crate::error::Result;
use crate::models::Model;

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

    /// The header: epoch, train_loss, valid_loss, the metrics, time.
    pub fn header(&mut self, metric_names: &[String]) {
        let mut header: Vec<String> = ["epoch", "train_loss", "valid_loss"]
            .map(String::from)
            .to_vec();
        header.extend(metric_names.iter().cloned());
        header.push("time".into());
        // Wide enough for the name and for a 6-decimal value ("0.123456") or "00:00".
        self.widths = header.iter().map(|h| h.len().max(8)).collect();
        self.widths[0] = 5;
        self.line(&header);
    }

    /// One epoch's row.
    pub fn row(&mut self, v: &EpochValues) {
        let mut row = vec![
            v.epoch.to_string(),
            format!("{:.6}", v.train_loss),
            format!("{:.6}", v.valid_loss),
        ];
        row.extend(v.metrics.iter().map(|m| format!("{m:.6}")));
        row.push(format_time(v.seconds));
        self.line(&row);
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

/// fastai's `ProgressCallback`: the epoch table, and a bar over each epoch's batches on a
/// terminal. [`Learner::quiet`] removes it, so a quiet run draws neither.
pub struct ProgressCallback {
    table: ProgressTable,
    /// Draw the bar (only when standard error is a terminal).
    show_bar: bool,
    bar: Option<ProgressBar>,
    /// The rows printed in this fit, so a resumed run prints the whole table again.
    rows: Vec<EpochValues>,
}

impl ProgressCallback {
    /// The table on standard output, the bar on standard error when it is a terminal.
    pub fn stdout() -> Self {
        Self {
            table: ProgressTable::stdout(),
            show_bar: std::io::stderr().is_terminal(),
            bar: None,
            rows: Vec::new(),
        }
    }

    /// The table to any writer, no bar.
    pub fn to(out: Box<dyn Write + Send>) -> Self {
        Self {
            table: ProgressTable::to(out),
            show_bar: false,
            bar: None,
            rows: Vec::new(),
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl<M: Model> Callback<M> for ProgressCallback {
    fn order(&self) -> i32 {
        140
    }

    fn before_fit(&mut self, learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        self.rows.clear();
        self.table.header(&learn.metric_names());
        Ok(Control::Continue)
    }

    fn before_train(&mut self, _learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if self.show_bar {
            let bar = ProgressBar::new(fit.n_iter as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}<{eta}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("epoch {} train", fit.epoch));
            bar.set_position(fit.iter as u64);
            self.bar = Some(bar);
        }
        Ok(Control::Continue)
    }

    fn after_batch(&mut self, _learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        Ok(Control::Continue)
    }

    fn after_train(&mut self, _learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        self.finish_bar();
        Ok(Control::Continue)
    }

    fn after_epoch(&mut self, _learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if let Some(v) = &fit.epoch_values {
            self.table.row(v);
            self.rows.push(v.clone());
        }
        Ok(Control::Continue)
    }

    fn after_fit(&mut self, _learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        self.finish_bar();
        Ok(Control::Continue)
    }

    fn checkpoint_state(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.rows).ok()
    }

    fn restore_state(&mut self, state: serde_json::Value) -> serde_json::Result<()> {
        let rows: Vec<EpochValues> = serde_json::from_value(state)?;
        for v in &rows {
            self.table.row(v);
        }
        self.rows = rows;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        t.header(&["batch_accuracy".to_string()]);
        t.row(&EpochValues {
            epoch: 0,
            train_loss: 0.636709,
            valid_loss: 0.503144,
            metrics: vec![0.495584],
            seconds: 1.4,
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "epoch  train_loss  valid_loss  batch_accuracy  time\n\
             0      0.636709    0.503144    0.495584        00:01\n"
        );
        assert_eq!(format_time(75.0), "01:15");
    }
}
