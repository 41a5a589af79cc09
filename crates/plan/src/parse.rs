//! Reading plans from strings: JSON (EXPLAIN or auto_explain) and text.

use serde_json::Value;

use crate::{Plan, PlanError, PlanSource};

impl Plan {
    /// Reads a plan from either JSON or text, deciding by its first non-blank character.
    pub fn parse(input: &str) -> Result<Plan, PlanError> {
        // Skip psql's `QUERY PLAN` header and its dashed separator.
        let t = input.lines().map(str::trim).find(|l| {
            !l.is_empty() && *l != "QUERY PLAN" && !l.chars().all(|c| c == '-' || c == '+')
        });
        let Some(t) = t else {
            return Err(PlanError::Empty);
        };
        if t.starts_with('[') || t.starts_with('{') {
            Plan::from_json(input)
        } else {
            Plan::from_text(input)
        }
    }

    /// Reads `EXPLAIN (FORMAT JSON)` output (an array holding one object) or
    /// auto_explain's JSON (one object, possibly with `"Query Text"`). psql's `+`
    /// line continuations and a leading `QUERY PLAN` header are tolerated.
    pub fn from_json(input: &str) -> Result<Plan, PlanError> {
        if input.trim().is_empty() {
            return Err(PlanError::Empty);
        }
        let start = input.find(['[', '{']).unwrap_or(0);
        let body = &input[start..];
        let value: Value = match first_value(body) {
            Ok(v) => v,
            Err(first) => {
                let cleaned = strip_psql_continuations(body);
                first_value(&cleaned).map_err(|_| PlanError::Json(first))?
            }
        };
        let mut plan = plan_from_value(value)?;
        plan.source = PlanSource::Json;
        Ok(plan)
    }
}

/// The first JSON value of the input; whatever follows it (psql's `(1 row)`, the
/// next log line) is ignored.
fn first_value(s: &str) -> Result<Value, serde_json::Error> {
    let mut values = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    match values.next() {
        Some(v) => v,
        None => serde_json::from_str(s),
    }
}

fn strip_psql_continuations(s: &str) -> String {
    s.lines()
        .map(|l| l.trim_end().strip_suffix('+').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn plan_from_value(value: Value) -> Result<Plan, PlanError> {
    match value {
        Value::Array(items) => {
            for item in items {
                if let Ok(p) = plan_from_value(item) {
                    return Ok(p);
                }
            }
            Err(PlanError::NoPlan)
        }
        Value::Object(map) => {
            if map.get("Plan").is_some_and(Value::is_object) {
                Ok(serde_json::from_value(Value::Object(map))?)
            } else if map.contains_key("Node Type") {
                let root = serde_json::from_value(Value::Object(map))?;
                Ok(Plan {
                    root,
                    ..Plan::default()
                })
            } else {
                Err(PlanError::NoPlan)
            }
        }
        _ => Err(PlanError::NoPlan),
    }
}
