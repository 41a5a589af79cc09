//! Tests of script parsing and validation, each error with its position.

use super::*;

const EXAMPLE: &str = r#"[vars]
users = 1000

[[query]]
name = "account"
sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
weight = 10
params = ["int:1..${users}"]

[[sequence]]
name = "activity_feed"
weight = 3
  [[sequence.step]]
  name = "feed"
  sql = "SELECT id, user_id FROM audit_logs ORDER BY \"timestamp\" DESC LIMIT 20"
  [[sequence.step]]
  name = "feed_user"
  sql = "SELECT id, name FROM users WHERE id = $1"
  for_each_row = "feed"
  params = ["row:user_id"]
  [[sequence.step]]
  name = "ping"
  sql = "SELECT 1"
  repeat = 2
"#;

fn parse(text: &str) -> Result<Script, ScriptError> {
    Script::parse(text, "w.toml", &[])
}

/// Asserts an error at `line:col` whose message contains `needle`.
fn assert_err(text: &str, line: usize, col: usize, needle: &str) {
    let err = parse(text).expect_err("should fail");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("w.toml:{line}:{col}: ")),
        "wrong position: {msg}"
    );
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn the_documented_example_parses() {
    let s = parse(EXAMPLE).expect("valid");
    assert_eq!(s.sequences.len(), 2);
    let q = &s.sequences[0];
    assert!(q.is_query);
    assert_eq!((q.name.as_str(), q.weight), ("account", 10));
    assert_eq!(q.steps[0].params, [Generator::Int { lo: 1, hi: 1000 }]);
    let f = &s.sequences[1];
    assert_eq!(f.steps.len(), 3);
    assert_eq!(f.steps[1].mode, StepMode::ForEachRow(0));
    assert_eq!(f.steps[1].params, [Generator::Row("user_id".into())]);
    assert_eq!(f.steps[2].mode, StepMode::Repeat(2));
    assert_eq!(s.steps().count(), 4);
}

#[test]
fn command_line_variables_override_defaults() {
    let s = Script::parse(EXAMPLE, "w.toml", &[("users".into(), "5000".into())]).expect("valid");
    assert_eq!(
        s.sequences[0].steps[0].params,
        [Generator::Int { lo: 1, hi: 5000 }]
    );
    assert_eq!(s.vars["users"], "5000");
    let err =
        Script::parse(EXAMPLE, "w.toml", &[("user".into(), "5".into())]).expect_err("unknown var");
    assert!(err.to_string().contains("did you mean `users`"), "{err}");
}

#[test]
fn unknown_keys_suggest_the_closest_valid_key() {
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT 1\"\nwieght = 3\n",
        4,
        1,
        "did you mean `weight`",
    );
    assert_err("[[qeury]]\nname = \"a\"\n", 1, 3, "did you mean `query`");
    assert_err(
        "[[sequence]]\nname = \"s\"\n[[sequence.step]]\nname = \"a\"\nsql = \"SELECT 1\"\nfor_each = \"x\"\n",
        6,
        1,
        "did you mean `for_each_row`",
    );
}

#[test]
fn bad_generators_list_the_valid_forms() {
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [\"int:1-10\"]\n",
        4,
        11,
        "LO..HI",
    );
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [\"random\"]\n",
        4,
        11,
        "valid forms are int:LO..HI",
    );
}

#[test]
fn placeholders_and_generators_must_agree() {
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT $1, $2\"\nparams = [\"int:1..2\"]\n",
        3,
        7,
        "uses $2 but only 1",
    );
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT '$1', $1\"\nparams = [\"int:1..2\", \"uuid\"]\n",
        4,
        23,
        "only up to $1",
    );
    // placeholders inside literals and comments do not count
    parse("[[query]]\nname = \"a\"\nsql = \"SELECT '$2' -- $3\"\n").expect("no placeholders");
}

#[test]
fn row_values_need_a_for_each_row_step() {
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [\"row:id\"]\n",
        4,
        11,
        "for_each_row",
    );
    assert_err(
        "[[sequence]]\nname = \"s\"\n[[sequence.step]]\nname = \"a\"\nsql = \"SELECT 1 AS id\"\n[[sequence.step]]\nname = \"b\"\nsql = \"SELECT $1\"\nfor_each_row = \"aa\"\nparams = [\"row:id\"]\n",
        9,
        16,
        "did you mean `a`",
    );
    assert_err(
        "[[sequence]]\nname = \"s\"\n[[sequence.step]]\nname = \"a\"\nsql = \"SELECT 1\"\nrepeat = 2\nfor_each_row = \"a\"\n",
        6,
        10,
        "not both",
    );
}

#[test]
fn duplicate_names_point_at_the_second_one() {
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT 1\"\n[[sequence]]\nname = \"s\"\n[[sequence.step]]\nname = \"a\"\nsql = \"SELECT 2\"\n",
        7,
        8,
        "duplicate name `a` (first used on line 2)",
    );
}

#[test]
fn empty_and_weightless_workloads_are_rejected() {
    assert_err("", 1, 1, "empty workload");
    assert_err("[vars]\nx = 1\n", 1, 1, "empty workload");
    assert_err(
        "\n[[query]]\nname = \"a\"\nsql = \"SELECT 1\"\nweight = 0\n",
        2,
        1,
        "every weight is 0",
    );
    assert_err("[[sequence]]\nname = \"s\"\n", 1, 1, "has no steps");
}

#[test]
fn undefined_variables_are_named() {
    assert_err(
        "[vars]\nusers = 5\n[[query]]\nname = \"a\"\nsql = \"SELECT $1\"\nparams = [\"int:1..${user}\"]\n",
        6,
        11,
        "undefined variable `${user}` (did you mean `users`?)",
    );
}

#[test]
fn type_errors_have_positions() {
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT 1\"\nweight = -1\n",
        4,
        10,
        "",
    );
    assert_err("[[query]]\nname = \"a\"\n", 1, 1, "missing field `sql`");
    assert_err(
        "[[query]]\nname = \"a\"\nsql = \"SELECT 1\"\nweight = \n",
        4,
        10,
        "",
    );
}
