//! Named steps of a SQL file: a `-- step: NAME` comment line starts a step, and the
//! statements up to the next such line belong to it. Lets the loader keep its DDL in
//! `.sql` files and still run and time each step on its own.

/// One named step of a SQL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step<'a> {
    /// The name after `-- step:`.
    pub name: &'a str,
    /// The SQL of the step (one or more statements, comments included).
    pub sql: &'a str,
}

/// Splits `text` into its named steps; text before the first marker is dropped.
pub(crate) fn steps(text: &str) -> Vec<Step<'_>> {
    let mut out: Vec<Step<'_>> = Vec::new();
    let mut current: Option<(&str, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.trim().strip_prefix("-- step:") {
            if let Some((n, start)) = current.take() {
                out.push(Step {
                    name: n,
                    sql: text[start..offset].trim(),
                });
            }
            current = Some((name.trim(), offset + line.len()));
        }
        offset += line.len();
    }
    if let Some((n, start)) = current {
        out.push(Step {
            name: n,
            sql: text[start..].trim(),
        });
    }
    out
}

/// The SQL of step `name` of `text`, if there is one.
pub(crate) fn step<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    steps(text)
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_step_markers() {
        let text =
            "-- header\nSET x = 1;\n-- step: a\nSELECT 1;\nSELECT 2;\n\n-- step: b\nSELECT 3;";
        let s = steps(text);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            Step {
                name: "a",
                sql: "SELECT 1;\nSELECT 2;"
            }
        );
        assert_eq!(
            s[1],
            Step {
                name: "b",
                sql: "SELECT 3;"
            }
        );
        assert_eq!(step(text, "b"), Some("SELECT 3;"));
        assert_eq!(step(text, "c"), None);
    }

    #[test]
    fn no_markers_no_steps() {
        assert!(steps("SELECT 1;").is_empty());
        assert!(steps("").is_empty());
    }
}
