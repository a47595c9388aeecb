//! `labels.csv`, as fastai's MNIST_SAMPLE ships it: `name,label` with paths relative to the root.

use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Read `(name, label)` rows, skipping the `name,label` header.
///
/// ```no_run
/// let rows = fastburn::data::read_labels_csv(std::path::Path::new("mnist_sample/labels.csv"))?;
/// assert_eq!(rows[0], ("train/3/7.png".to_string(), "0".to_string()));
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn read_labels_csv(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).at(path)?;
    parse_labels_csv(&text, path)
}

fn parse_labels_csv(text: &str, path: &Path) -> Result<Vec<(String, String)>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.eq_ignore_ascii_case("name,label")) {
            continue;
        }
        let bad = |reason: &str| Error::LabelsCsv {
            path: path.to_path_buf(),
            line: i + 1,
            reason: reason.to_string(),
        };
        let (name, label) = line.split_once(',').ok_or_else(|| bad("no comma"))?;
        let (name, label) = (name.trim(), label.trim());
        if name.is_empty() || label.is_empty() || label.contains(',') {
            return Err(bad("want exactly two non-empty fields"));
        }
        rows.push((name.to_string(), label.to_string()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_reports_the_bad_line() {
        let p = Path::new("labels.csv");
        let rows = parse_labels_csv("name,label\ntrain/3/7.png,0\nvalid/7/1.png,1\n", p).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], ("valid/7/1.png".into(), "1".into()));
        let err = parse_labels_csv("name,label\ntrain/3/7.png,0\nbroken\n", p).unwrap_err();
        assert!(err.to_string().starts_with("labels.csv:3:"), "{err}");
    }
}
