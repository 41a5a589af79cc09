//! Workload scripts: a TOML file of weighted queries and sequences of dependent
//! steps (N+1 patterns), with random parameter generators. Parsing is pure and
//! every error points at `file:line:col`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::generator::{Generator, GENERATOR_FORMS};
use crate::sqlscan::max_placeholder;

/// A parsed, validated workload script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Where it came from (for reports and messages).
    pub path: String,
    /// Variables after command-line overrides.
    pub vars: BTreeMap<String, String>,
    /// Top-level items in file order: each `[[query]]` is a sequence of one step.
    pub sequences: Vec<Sequence>,
}

/// A top-level item picked by weight: a single query or a sequence of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Its name.
    pub name: String,
    /// Relative frequency.
    pub weight: u32,
    /// True for a `[[query]]` (one step named like the query).
    pub is_query: bool,
    /// The statements, run in order.
    pub steps: Vec<Step>,
}

/// One statement of a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its name (unique in the script).
    pub name: String,
    /// The SQL, prepared once per connection.
    pub sql: String,
    /// One generator per `$n`, in order.
    pub params: Vec<Generator>,
    /// How often it runs per sequence execution.
    pub mode: StepMode,
}

/// How often a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMode {
    /// Once.
    Once,
    /// A fixed number of times.
    Repeat(u32),
    /// Once per row returned by the earlier step with this index.
    ForEachRow(usize),
}

/// A script that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("{path}: cannot read workload script: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// The script is invalid at a position.
    #[error("{path}:{line}:{col}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[serde(default)]
    vars: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    query: Vec<Spanned<RawQuery>>,
    #[serde(default)]
    sequence: Vec<Spanned<RawSequence>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: Spanned<String>,
    sql: Spanned<String>,
    weight: Option<Spanned<u32>>,
    #[serde(default)]
    params: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    name: Spanned<String>,
    weight: Option<Spanned<u32>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Spanned<String>,
    sql: Spanned<String>,
    #[serde(default)]
    params: Vec<Spanned<String>>,
    for_each_row: Option<Spanned<String>>,
    repeat: Option<Spanned<u32>>,
}

/// Turns byte offsets into `file:line:col` errors.
struct Locator<'a> {
    text: &'a str,
    path: &'a str,
}

impl Locator<'_> {
    fn at(&self, offset: usize, message: impl Into<String>) -> ScriptError {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ScriptError::Invalid {
            path: self.path.to_string(),
            line,
            col,
            message: message.into(),
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.text
            .get(..offset)
            .unwrap_or(self.text)
            .matches('\n')
            .count()
            + 1
    }

    fn span<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> ScriptError {
        self.at(s.span().start, message)
    }
}

/// Edit distance, for "did you mean" hints.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(&word.to_lowercase(), c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" into a hint.
fn explain_toml_error(message: &str) -> String {
    let joined = message
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let message = joined.as_str();
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_string();
    };
    let Some((field, tail)) = rest.split_once('`') else {
        return message.to_string();
    };
    let valid: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    let hint = closest(field, &valid)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    format!(
        "unknown key `{field}`{hint}; valid keys here: {}",
        valid.join(", ")
    )
}

/// Replaces `${name}` with variable values.
fn substitute(
    spec: &Spanned<String>,
    vars: &BTreeMap<String, String>,
    loc: &Locator<'_>,
    used: &mut Vec<String>,
) -> Result<String, ScriptError> {
    let text = spec.get_ref();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(p) = rest.find("${") {
        out.push_str(&rest[..p]);
        let after = &rest[p + 2..];
        let Some(end) = after.find('}') else {
            return Err(loc.span(
                spec,
                format!("unterminated `${{` in {text:?}; write ${{name}}"),
            ));
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => {
                let known: Vec<&str> = vars.keys().map(String::as_str).collect();
                let hint = closest(name, &known)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(loc.span(spec, format!("undefined variable `${{{name}}}`{hint}; define it under [vars] or pass --var {name}=VALUE")));
            }
        }
        used.push(name.to_string());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Script {
    /// Reads and validates a script; `overrides` are `--var name=value` pairs.
    pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Script, ScriptError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScriptError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Script::parse(&text, &path.display().to_string(), overrides)
    }

    /// Parses and validates script text; `path` only names it in errors.
    pub fn parse(
        text: &str,
        path: &str,
        overrides: &[(String, String)],
    ) -> Result<Script, ScriptError> {
        let loc = Locator { text, path };
        let raw: RawScript = toml::from_str(text).map_err(|e| {
            loc.at(
                e.span().map_or(0, |s| s.start),
                explain_toml_error(e.message()),
            )
        })?;

        let mut vars = BTreeMap::new();
        for (k, v) in &raw.vars {
            let value = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(loc.span(
                        v,
                        format!("variable `{k}` must be a string, number or boolean"),
                    ))
                }
            };
            vars.insert(k.clone(), value);
        }
        for (k, v) in overrides {
            vars.insert(k.clone(), v.clone());
        }

        if raw.query.is_empty() && raw.sequence.is_empty() {
            return Err(loc.at(0, "empty workload: define at least one [[query]] (name, sql) or [[sequence]] with [[sequence.step]] entries"));
        }

        let mut names: HashMap<String, usize> = HashMap::new();
        let mut claim = |n: &Spanned<String>| -> Result<(), ScriptError> {
            let name = n.get_ref();
            if name.trim().is_empty() {
                return Err(loc.span(n, "a name must not be empty"));
            }
            if let Some(first) = names.get(name) {
                let line = loc.line_of(*first);
                return Err(loc.span(n, format!("duplicate name `{name}` (first used on line {line}); names of queries, sequences and steps must be unique")));
            }
            names.insert(name.clone(), n.span().start);
            Ok(())
        };

        let mut used_vars = Vec::new();
        let mut sequences = Vec::new();
        let mut first_item_offset = usize::MAX;
        for q in &raw.query {
            first_item_offset = first_item_offset.min(q.span().start);
            let q = q.get_ref();
            claim(&q.name)?;
            let params = build_params(&q.sql, &q.params, None, &[], &vars, &loc, &mut used_vars)?;
            sequences.push(Sequence {
                name: q.name.get_ref().clone(),
                weight: q.weight.as_ref().map_or(1, |w| *w.get_ref()),
                is_query: true,
                steps: vec![Step {
                    name: q.name.get_ref().clone(),
                    sql: q.sql.get_ref().clone(),
                    params,
                    mode: StepMode::Once,
                }],
            });
        }
        for s in &raw.sequence {
            first_item_offset = first_item_offset.min(s.span().start);
            let seq_span = s.span().start;
            let s = s.get_ref();
            claim(&s.name)?;
            if s.step.is_empty() {
                return Err(loc.at(seq_span, format!("sequence `{}` has no steps; add [[sequence.step]] entries with name and sql", s.name.get_ref())));
            }
            let mut steps: Vec<Step> = Vec::new();
            for st in &s.step {
                let st = st.get_ref();
                claim(&st.name)?;
                let earlier: Vec<&str> = steps.iter().map(|x| x.name.as_str()).collect();
                let mode = match (&st.repeat, &st.for_each_row) {
                    (Some(r), Some(_)) => {
                        return Err(loc.span(
                            r,
                            "a step takes either `repeat` or `for_each_row`, not both",
                        ))
                    }
                    (Some(r), None) if *r.get_ref() == 0 => {
                        return Err(loc.span(r, "repeat must be at least 1"))
                    }
                    (Some(r), None) => StepMode::Repeat(*r.get_ref()),
                    (None, Some(f)) => match earlier.iter().position(|n| n == f.get_ref()) {
                        Some(i) => StepMode::ForEachRow(i),
                        None => {
                            let hint = closest(f.get_ref(), &earlier)
                                .map(|c| format!(" (did you mean `{c}`?)"))
                                .unwrap_or_default();
                            return Err(loc.span(f, format!(
                                "for_each_row = {:?} names no earlier step of sequence `{}`{hint}; earlier steps: {}",
                                f.get_ref(), s.name.get_ref(),
                                if earlier.is_empty() { "none".to_string() } else { earlier.join(", ") }
                            )));
                        }
                    },
                    (None, None) => StepMode::Once,
                };
                let parent = match mode {
                    StepMode::ForEachRow(i) => Some(i),
                    _ => None,
                };
                let params = build_params(
                    &st.sql,
                    &st.params,
                    parent,
                    &earlier,
                    &vars,
                    &loc,
                    &mut used_vars,
                )?;
                steps.push(Step {
                    name: st.name.get_ref().clone(),
                    sql: st.sql.get_ref().clone(),
                    params,
                    mode,
                });
            }
            sequences.push(Sequence {
                name: s.name.get_ref().clone(),
                weight: s.weight.as_ref().map_or(1, |w| *w.get_ref()),
                is_query: false,
                steps,
            });
        }
        // Keep file order between queries and sequences.
        let mut order: Vec<(usize, Sequence)> = raw
            .query
            .iter()
            .map(|q| q.span().start)
            .chain(raw.sequence.iter().map(|s| s.span().start))
            .zip(sequences)
            .collect();
        order.sort_by_key(|(o, _)| *o);
        let sequences: Vec<Sequence> = order.into_iter().map(|(_, s)| s).collect();

        if sequences.iter().all(|s| s.weight == 0) {
            return Err(loc.at(first_item_offset, "every weight is 0, so nothing would run; give at least one query or sequence a positive weight"));
        }
        for (k, _) in overrides {
            if !raw.vars.contains_key(k) && !used_vars.contains(k) {
                let known: Vec<&str> = raw.vars.keys().map(String::as_str).collect();
                let hint = closest(k, &known)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(loc.at(
                    0,
                    format!(
                        "--var {k}: the script neither defines nor uses a variable `{k}`{hint}"
                    ),
                ));
            }
        }
        Ok(Script {
            path: path.to_string(),
            vars,
            sequences,
        })
    }

    /// Every step of every sequence with its sequence, in script order.
    pub fn steps(&self) -> impl Iterator<Item = (&Sequence, &Step)> {
        self.sequences
            .iter()
            .flat_map(|s| s.steps.iter().map(move |st| (s, st)))
    }
}

/// Builds the generators of one statement and checks them against its SQL.
fn build_params(
    sql: &Spanned<String>,
    specs: &[Spanned<String>],
    parent: Option<usize>,
    earlier: &[&str],
    vars: &BTreeMap<String, String>,
    loc: &Locator<'_>,
    used_vars: &mut Vec<String>,
) -> Result<Vec<Generator>, ScriptError> {
    if sql.get_ref().trim().is_empty() {
        return Err(loc.span(sql, "sql must not be empty"));
    }
    let mut gens = Vec::with_capacity(specs.len());
    for spec in specs {
        let text = substitute(spec, vars, loc, used_vars)?;
        let g = Generator::parse(&text).map_err(|e| loc.span(spec, e.0))?;
        if let Generator::Row(col) = &g {
            if parent.is_none() {
                return Err(loc.span(spec, format!(
                    "`row:{col}` needs a row: use it in a step with for_each_row = \"<earlier step>\"{}",
                    if earlier.is_empty() { String::new() } else { format!(" (earlier steps: {})", earlier.join(", ")) }
                )));
            }
        }
        gens.push(g);
    }
    let used = max_placeholder(sql.get_ref()) as usize;
    if used > gens.len() {
        return Err(loc.span(sql, format!(
            "the SQL uses ${used} but only {} parameter generator(s) are given; add one per placeholder to params (forms: {GENERATOR_FORMS})",
            gens.len()
        )));
    }
    if gens.len() > used {
        let extra = &specs[used];
        return Err(loc.span(
            extra,
            format!(
                "{} parameter generator(s) given but the SQL uses {}; remove the extra ones",
                gens.len(),
                if used == 0 {
                    "no placeholders".to_string()
                } else {
                    format!("only up to ${used}")
                }
            ),
        ));
    }
    Ok(gens)
}

impl fmt::Display for StepMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepMode::Once => f.write_str("once"),
            StepMode::Repeat(n) => write!(f, "repeat {n}"),
            StepMode::ForEachRow(i) => write!(f, "for each row of step #{}", i + 1),
        }
    }
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
