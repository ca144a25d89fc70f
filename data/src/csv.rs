//! Numeric CSV files: one example per line, comma-separated numbers, an optional header line
//! (detected when a field of the first line is not a number). Blank lines and lines starting
//! with `#` are skipped.
//!
//! Every error names the file and the line, and the column (0-based, as `label_column` counts)
//! where there is one: a cell that is not a number, a row of another width than the first, a
//! value that is not finite as an f32 (`nan`, `inf`, `1e39`; the first one, and how many more),
//! a label that is not a class index below [`MAX_CLASSES`]. Memory grows with the rows actually
//! read (at most eight bytes a value, so at most four times the text) and the text and the
//! examples are checked against the machine's memory first ([`crate::memory`]).

use std::path::Path;

use crate::dataset::{Dataset, Targets};
use crate::error::{DataError, Result};
use crate::memory;

/// The most classes a classification CSV may have (its largest label + 1): a stray huge label
/// would otherwise size every per-class table of a run.
pub const MAX_CLASSES: usize = 1 << 20;

/// A parsed numeric table: `rows × columns` values, row-major, and each row's line number.
struct Table {
    header: Option<Vec<String>>,
    values: Vec<f64>,
    lines: Vec<usize>,
    columns: usize,
}

impl Table {
    fn rows(&self) -> impl Iterator<Item = (usize, &[f64])> {
        self.lines
            .iter()
            .copied()
            .zip(self.values.chunks_exact(self.columns.max(1)))
    }
}

fn parse_table(text: &str, file: &str) -> Result<Table> {
    let mut header = None;
    let mut values = Vec::new();
    let mut lines = Vec::new();
    let mut columns = 0;
    // The first cell that is not finite as an f32 (line, column, text), and how many there are.
    let mut non_finite: Option<(usize, usize, String)> = None;
    let mut bad = 0usize;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = line.split(',').map(|f| f.trim().trim_matches('"'));
        if lines.is_empty() && header.is_none() && fields.clone().any(|f| f.parse::<f64>().is_err())
        {
            let names: Vec<String> = fields.map(str::to_string).collect();
            columns = names.len();
            header = Some(names);
            continue;
        }
        let start = values.len();
        for (col, f) in fields.enumerate() {
            let v = f.parse::<f64>().map_err(|_| DataError::Csv {
                file: file.into(),
                line: line_no,
                what: format!("column {col}: {:?} is not a number", truncated(f)),
            })?;
            if !(v as f32).is_finite() {
                bad += 1;
                if non_finite.is_none() {
                    non_finite = Some((line_no, col, truncated(f)));
                }
            }
            values.push(v);
        }
        let n = values.len() - start;
        if columns == 0 {
            columns = n;
        } else if n != columns {
            return Err(DataError::Csv {
                file: file.into(),
                line: line_no,
                what: format!("{n} columns, expected {columns}"),
            });
        }
        lines.push(line_no);
    }
    if let Some((line, col, cell)) = non_finite {
        let more = match bad - 1 {
            0 => String::new(),
            n => format!(" (and {n} more)"),
        };
        let why = if cell.parse::<f64>().is_ok_and(f64::is_finite) {
            " (beyond f32's range)"
        } else {
            ""
        };
        return Err(DataError::Csv {
            file: file.into(),
            line,
            what: format!("column {col}: non-finite value {cell:?}{why}{more}"),
        });
    }
    if lines.is_empty() {
        return Err(DataError::malformed(file, "no data rows"));
    }
    Ok(Table {
        header,
        values,
        lines,
        columns,
    })
}

/// A cell as a message quotes it: at most 40 characters.
fn truncated(cell: &str) -> String {
    match cell.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &cell[..i]),
        None => cell.to_string(),
    }
}

/// The text of `path`, after checking that it fits in memory.
fn read_text(path: &Path) -> Result<String> {
    let file = path.display().to_string();
    let len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len();
    memory::check(&file, "the text", len)?;
    std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))
}

/// Checks that the f32 examples and targets made from `t` fit in memory.
fn check_memory(t: &Table, file: &str) -> Result<()> {
    let cells = t.values.len() as u64;
    memory::check(
        file,
        &format!("{} rows of {} columns", t.lines.len(), t.columns),
        4 * cells,
    )
}

/// Which column holds the labels: by position from the left (0-based), from the right (`-1` is
/// the last column, as Python and pandas count), or by its name in the header line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    Index(usize),
    FromEnd(usize),
    Name(String),
}

impl Column {
    /// `label_column = 3`, `-1` or `"species"` as a config gives it.
    pub fn from_int(i: i64) -> Column {
        if i < 0 {
            Column::FromEnd(i.unsigned_abs() as usize)
        } else {
            Column::Index(i as usize)
        }
    }

    /// The 0-based position in `t`, or an error naming the file and what exists.
    fn resolve(&self, t: &Table, file: &str) -> Result<usize> {
        let names = || {
            t.header
                .as_ref()
                .map(|h| format!(" ({})", h.join(", ")))
                .unwrap_or_default()
        };
        let c = match self {
            Column::Index(c) => *c,
            Column::FromEnd(k) => match t.columns.checked_sub(*k) {
                Some(c) if *k >= 1 => c,
                _ => {
                    return Err(DataError::shape(
                        file,
                        format!(
                            "column -{k} requested, the table has {} columns{}",
                            t.columns,
                            names()
                        ),
                    ))
                }
            },
            Column::Name(n) => {
                let Some(h) = &t.header else {
                    return Err(DataError::shape(
                        file,
                        format!("column {n:?} requested by name, but the file has no header line"),
                    ));
                };
                match h.iter().position(|c| c == n) {
                    Some(c) => c,
                    None => {
                        return Err(DataError::shape(
                            file,
                            format!("no column named {n:?} ({})", present::choices::hint(n, h)),
                        ))
                    }
                }
            }
        };
        check_column(t, file, c)?;
        Ok(c)
    }
}

/// Reads a classification CSV: column `label_column` holds integer labels `>= 0` (the number of
/// classes is the largest label + 1), every other column is a feature.
pub fn read(path: impl AsRef<Path>, label_column: usize) -> Result<Dataset> {
    read_by(path, &Column::Index(label_column))
}

/// [`read`] with the label column given by position, from the end, or by name.
pub fn read_by(path: impl AsRef<Path>, label_column: &Column) -> Result<Dataset> {
    let path = path.as_ref();
    parse_classes_by(&read_text(path)?, &path.display().to_string(), label_column)
}

/// [`read`] from text in memory; `file` names the source in errors.
pub fn parse_classes(text: &str, file: &str, label_column: usize) -> Result<Dataset> {
    parse_classes_by(text, file, &Column::Index(label_column))
}

/// [`parse_classes`] with the label column given by position, from the end, or by name.
pub fn parse_classes_by(text: &str, file: &str, label_column: &Column) -> Result<Dataset> {
    let t = parse_table(text, file)?;
    let label_column = label_column.resolve(&t, file)?;
    check_memory(&t, file)?;
    let mut x = Vec::with_capacity(t.lines.len() * (t.columns - 1));
    let mut labels = Vec::with_capacity(t.lines.len());
    for (line, row) in t.rows() {
        let l = row[label_column];
        if l < 0.0 || l.fract() != 0.0 || l >= MAX_CLASSES as f64 {
            return Err(DataError::Csv {
                file: file.into(),
                line,
                what: format!(
                    "column {label_column}: label {l} is not a class index in 0..{MAX_CLASSES}"
                ),
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
    check_memory(&t, file)?;
    let features = t.columns - target_columns.len();
    let mut x = Vec::with_capacity(t.lines.len() * features);
    let mut values = Vec::with_capacity(t.lines.len() * target_columns.len());
    for (_, row) in t.rows() {
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
    fn label_column_by_name_or_from_the_end() {
        let text = "sepal,petal,species\n1,2,0\n3,4,2\n";
        for c in [
            Column::Name("species".into()),
            Column::FromEnd(1),
            Column::Index(2),
        ] {
            let d = parse_classes_by(text, "iris.csv", &c).unwrap();
            assert_eq!(d.x, vec![1.0, 2.0, 3.0, 4.0], "{c:?}");
            assert_eq!(d.labels().unwrap(), &[0, 2]);
        }
        let e = parse_classes_by(text, "iris.csv", &Column::Name("specie".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `species`?"), "{e}");
        let e = parse_classes_by("1,2,0\n", "x.csv", &Column::Name("y".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no header line"), "{e}");
        assert!(parse_classes_by(text, "iris.csv", &Column::FromEnd(4)).is_err());
        assert!(parse_classes_by(text, "iris.csv", &Column::FromEnd(0)).is_err());
        assert_eq!(Column::from_int(-1), Column::FromEnd(1));
        assert_eq!(Column::from_int(2), Column::Index(2));
    }

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

    /// Regression: `nan` and `inf` parse as numbers, and 1e39 overflows f32 to infinity; each
    /// went into the inputs. The first is named by line and column, the others counted.
    #[test]
    fn nan_in_csv_is_an_error_naming_line_and_column() {
        let e = parse_classes("a,b,label\n1,2,0\n3,nan,1\n4,inf,1\n-inf,5,0\n", "t.csv", 2)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:3: column 1: non-finite value \"nan\" (and 2 more)"
        );
        let e = parse_values("1,2\n1e39,3\n", "v.csv", &[1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "v.csv:2: column 0: non-finite value \"1e39\" (beyond f32's range)"
        );
        // In a regression target too.
        let e = parse_values("1,2\n3,NaN\n", "v.csv", &[1]).unwrap_err();
        assert!(
            e.to_string().starts_with("v.csv:2: column 1: non-finite"),
            "{e}"
        );
        // A NaN label is not a class either.
        let e = parse_classes("1,2,0\n1,2,nan\n", "t.csv", 2).unwrap_err();
        assert!(
            e.to_string().starts_with("t.csv:2: column 2: non-finite"),
            "{e}"
        );
    }

    /// Ragged rows, non-numeric cells, huge labels, absurdly wide lines: errors naming the line
    /// and column, never a panic or an allocation beyond what the text holds.
    #[test]
    fn hostile_tables_are_named_errors() {
        let e = parse_classes("1,2,0\n1,2,4294967296\n", "t.csv", 2).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "t.csv:2: column 2: label 4294967296 is not a class index in 0..1048576"
            ),
            "{e}"
        );
        let d = parse_classes("1,2,1048575\n", "t.csv", 2).unwrap();
        assert_eq!(d.num_classes(), Some(MAX_CLASSES));
        let e = parse_classes("1,2,0\n1,2,3,4\n", "t.csv", 2).unwrap_err();
        assert_eq!(e.to_string(), "t.csv:2: 4 columns, expected 3");
        let e = parse_classes("h1,h2\n1,x\n", "t.csv", 0).unwrap_err();
        assert_eq!(e.to_string(), "t.csv:2: column 1: \"x\" is not a number");
        let long = "y".repeat(100);
        let e = parse_classes(&format!("1,2\n1,{long}\n"), "t.csv", 0).unwrap_err();
        assert!(e
            .to_string()
            .ends_with(&format!("\"{}...\" is not a number", "y".repeat(40))));
        let wide = vec!["1"; 100_000].join(",");
        let d = parse_values(&format!("{wide}\n{wide}\n"), "w.csv", &[0]).unwrap();
        assert_eq!((d.len(), d.features()), (2, 99_999));
        assert!(parse_classes("", "e.csv", 0).is_err());
        assert!(parse_classes("a,b\n", "e.csv", 0).is_err());
        assert!(parse_classes(",\n,\n", "e.csv", 0).is_err());
    }
}
