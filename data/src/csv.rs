//! Numeric CSV files: one example per line, comma-separated numbers, an optional header line
//! (detected when a field of the first line is not a number). Blank lines and lines starting
//! with `#` are skipped.

use std::path::Path;

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};

/// A parsed numeric table.
struct Table {
    header: Option<Vec<String>>,
    rows: Vec<(usize, Vec<f64>)>,
    columns: usize,
}

fn parse_table(text: &str, file: &str) -> Result<Table> {
    let mut header = None;
    let mut rows = Vec::new();
    let mut columns = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"'))
            .collect();
        let parsed: std::result::Result<Vec<f64>, _> =
            fields.iter().map(|f| f.parse::<f64>()).collect();
        match parsed {
            Err(_) if rows.is_empty() && header.is_none() => {
                columns = fields.len();
                header = Some(fields.iter().map(|s| s.to_string()).collect());
            }
            Err(_) => {
                let (col, bad) = fields
                    .iter()
                    .enumerate()
                    .find(|(_, f)| f.parse::<f64>().is_err())
                    .unwrap_or((0, &""));
                return Err(DataError::Csv {
                    file: file.into(),
                    line: line_no,
                    what: format!("column {col}: {bad:?} is not a number"),
                });
            }
            Ok(values) => {
                if columns == 0 {
                    columns = values.len();
                } else if values.len() != columns {
                    return Err(DataError::Csv {
                        file: file.into(),
                        line: line_no,
                        what: format!("{} columns, expected {columns}", values.len()),
                    });
                }
                rows.push((line_no, values));
            }
        }
    }
    if rows.is_empty() {
        return Err(DataError::malformed(file, "no data rows"));
    }
    Ok(Table {
        header,
        rows,
        columns,
    })
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))
}

/// Reads a classification CSV: column `label_column` holds integer labels `>= 0` (the number of
/// classes is the largest label + 1), every other column is a feature.
pub fn read(path: impl AsRef<Path>, label_column: usize) -> Result<Dataset> {
    let path = path.as_ref();
    parse_classes(&read_text(path)?, &path.display().to_string(), label_column)
}

/// [`read`] from text in memory; `file` names the source in errors.
pub fn parse_classes(text: &str, file: &str, label_column: usize) -> Result<Dataset> {
    let t = parse_table(text, file)?;
    check_column(&t, file, label_column)?;
    let mut x = Vec::with_capacity(t.rows.len() * (t.columns - 1));
    let mut labels = Vec::with_capacity(t.rows.len());
    for (line, row) in &t.rows {
        let l = row[label_column];
        if l < 0.0 || l.fract() != 0.0 || l > u32::MAX as f64 {
            return Err(DataError::Csv {
                file: file.into(),
                line: *line,
                what: format!("label {l} in column {label_column} is not a class index >= 0"),
            });
        }
        labels.push(l as u32);
        x.extend(
            row.iter()
                .enumerate()
                .filter(|&(c, _)| c != label_column)
                .map(|(_, &v)| v as f32),
        );
    }
    let num_classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    Dataset::new(
        file,
        x,
        vec![t.columns - 1],
        Targets::Classes {
            labels,
            num_classes,
        },
    )
}

/// Reads a regression CSV: the columns in `target_columns` are the targets (in that order),
/// the others are features.
pub fn read_values(path: impl AsRef<Path>, target_columns: &[usize]) -> Result<Dataset> {
    let path = path.as_ref();
    parse_values(
        &read_text(path)?,
        &path.display().to_string(),
        target_columns,
    )
}

/// [`read_values`] from text in memory; `file` names the source in errors.
pub fn parse_values(text: &str, file: &str, target_columns: &[usize]) -> Result<Dataset> {
    let t = parse_table(text, file)?;
    if target_columns.is_empty() {
        return Err(DataError::arg("target_columns", "[]", "need at least one"));
    }
    for (k, &c) in target_columns.iter().enumerate() {
        check_column(&t, file, c)?;
        if target_columns[..k].contains(&c) {
            return Err(DataError::arg(
                "target_columns",
                format!("{target_columns:?}"),
                format!("column {c} is listed twice"),
            ));
        }
    }
    if target_columns.len() >= t.columns {
        return Err(DataError::shape(
            file,
            format!(
                "{} columns leave no feature after {} targets",
                t.columns,
                target_columns.len()
            ),
        ));
    }
    let features = t.columns - target_columns.len();
    let mut x = Vec::with_capacity(t.rows.len() * features);
    let mut values = Vec::with_capacity(t.rows.len() * target_columns.len());
    for (_, row) in &t.rows {
        values.extend(target_columns.iter().map(|&c| row[c] as f32));
        x.extend(
            row.iter()
                .enumerate()
                .filter(|(c, _)| !target_columns.contains(c))
                .map(|(_, &v)| v as f32),
        );
    }
    Dataset::new(
        file,
        x,
        vec![features],
        Targets::Values {
            values,
            dim: target_columns.len(),
        },
    )
}

fn check_column(t: &Table, file: &str, c: usize) -> Result<()> {
    if c >= t.columns || t.columns < 2 {
        let names = t
            .header
            .as_ref()
            .map(|h| format!(" ({})", h.join(", ")))
            .unwrap_or_default();
        return Err(DataError::shape(
            file,
            format!(
                "column {c} requested, the table has {} columns{names}",
                t.columns
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_with_header() {
        let d = parse_classes("a,b,label\n1,2,0\n# note\n\n3,4,2\n", "t.csv", 2).unwrap();
        assert_eq!(d.x, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.shape, vec![2]);
        assert_eq!(d.labels().unwrap(), &[0, 2]);
        assert_eq!(d.num_classes(), Some(3));
        let d = parse_classes("5,1,2\n6,3,4\n", "t.csv", 0).unwrap();
        assert_eq!(d.x, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(d.labels().unwrap(), &[5, 6]);
    }

    #[test]
    fn values() {
        let d = parse_values("1,2,3\n4,5,6\n", "v.csv", &[2, 0]).unwrap();
        assert_eq!(d.x, vec![2.0, 5.0]);
        assert_eq!(
            d.targets,
            Targets::Values {
                values: vec![3.0, 1.0, 6.0, 4.0],
                dim: 2
            }
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = parse_classes("1,2,0\n1,2\n", "t.csv", 2).unwrap_err();
        assert_eq!(e.to_string(), "t.csv:2: 2 columns, expected 3");
        let e = parse_classes("1,2,0\n1,x,1\n", "t.csv", 2).unwrap_err();
        assert!(e.to_string().starts_with("t.csv:2: column 1"), "{e}");
        let e = parse_classes("1,2,0.5\n", "t.csv", 2).unwrap_err();
        assert!(e.to_string().contains("label 0.5"), "{e}");
        let e = parse_classes("1,2,-1\n", "t.csv", 2).unwrap_err();
        assert!(e.to_string().contains("label -1"), "{e}");
        let e = parse_classes("a,b\n1,2\n", "t.csv", 5).unwrap_err();
        assert!(
            e.to_string().contains("column 5") && e.to_string().contains("(a, b)"),
            "{e}"
        );
        let e = parse_values("1,2\n", "v.csv", &[0, 0]).unwrap_err();
        assert!(e.to_string().contains("listed twice"), "{e}");
        let e = parse_values("1,2\n", "v.csv", &[0, 1]).unwrap_err();
        assert!(e.to_string().contains("no feature"), "{e}");
        let e = read("/nonexistent/x.csv", 0).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.csv"), "{e}");
    }
}
