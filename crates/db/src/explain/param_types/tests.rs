use super::*;

/// 1-based character position of the `nth` (0-based) occurrence of `needle`.
fn pos(text: &str, needle: &str, nth: usize) -> usize {
    let (byte, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} in {text:?}"));
    text[..byte].chars().count() + 1
}

fn at(text: &str, needle: &str) -> Vec<usize> {
    operand_params(text, pos(text, needle, 0))
}

fn vals(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|s| s.map(str::to_string)).collect()
}

fn refusal<'a>(code: &'a str, message: &'a str, position: Option<usize>) -> Refusal<'a> {
    Refusal {
        code: Some(code),
        message,
        position,
    }
}

#[test]
fn numeric_literals_are_typed_like_the_parser_does() {
    let cases = [
        ("10", Some(Type::INT4)),
        ("-5", Some(Type::INT4)),
        ("0", Some(Type::INT4)),
        ("007", Some(Type::INT4)),
        ("2147483647", Some(Type::INT4)),
        ("-2147483648", Some(Type::INT4)),
        ("2147483648", Some(Type::INT8)),
        ("-2147483649", Some(Type::INT8)),
        ("9223372036854775807", Some(Type::INT8)),
        ("-9223372036854775808", Some(Type::INT8)),
        ("9223372036854775808", Some(Type::NUMERIC)),
        ("123456789012345678901234567890", Some(Type::NUMERIC)),
        ("1.5", Some(Type::NUMERIC)),
        ("-0.25", Some(Type::NUMERIC)),
        ("5.", Some(Type::NUMERIC)),
        (".5", Some(Type::NUMERIC)),
        ("1e5", Some(Type::NUMERIC)),
        ("2.5E-3", Some(Type::NUMERIC)),
        ("1e+10", Some(Type::NUMERIC)),
    ];
    for (v, t) in cases {
        assert_eq!(literal_type(v), t, "{v}");
    }
    for v in [
        "", "-", ".", "-.", "abc", "1e", "1e+", "e5", "1.2.3", "+5", " 5", "5 ", "--5", "0x1F",
        "1_000", "NaN", "Infinity", "1,5", "１２", "12abc",
    ] {
        assert_eq!(literal_type(v), None, "{v:?}");
    }
}

#[test]
fn literal_types_of_one_or_several_samples() {
    use Literal::{Null, Number, Other};
    let one = LiteralTypes::of(&vals(&[Some("10"), Some("x"), None, Some("1.5")]));
    assert_eq!(
        one.0,
        vec![Number(Type::INT4), Other, Null, Number(Type::NUMERIC)]
    );
    assert_eq!(
        (one.get(0), one.get(1), one.get(2), one.get(9)),
        (Some(&Type::INT4), None, None, None)
    );
    let many = LiteralTypes::widest(&[
        vals(&[Some("1"), Some("7"), None, Some("1"), None]),
        vals(&[Some("3000000000"), Some("abc"), None, None]),
        vals(&[Some("2"), Some("8"), Some("4")]),
    ]);
    // $1 widened to int8; $2 not always numeric; $3 numeric where given; $4 NULL
    // once; $5 never given.
    assert_eq!(
        many.0,
        vec![
            Number(Type::INT8),
            Other,
            Number(Type::INT4),
            Number(Type::INT4),
            Null
        ]
    );
    assert_eq!(LiteralTypes::widest(&[]).0, Vec::<Literal>::new());
}

#[test]
fn operators_point_at_their_whole_operands() {
    let q = "SELECT count(*) FROM orders WHERE total > $1 + $2";
    assert_eq!(at(q, "+"), vec![1, 2]);
    // Precedence: `$1 + $2 * $3` fails at `*` first; at `+`, `$2` belongs to `*`.
    let q = "SELECT $1 + $2 * $3";
    assert_eq!(at(q, "*"), vec![2, 3]);
    assert_eq!(at(q, "+"), vec![1]);
    let q = "SELECT $3 * $1 + $2";
    assert_eq!(at(q, "*"), vec![3, 1]);
    assert_eq!(at(q, "+"), vec![2]);
    // Comparison binds looser: both sides of `+` are whole.
    assert_eq!(at("SELECT 1 WHERE x = $1 + $2", "+"), vec![1, 2]);
    // Grouping parentheses, and the QA workload's shape.
    let q = "SELECT 1 FROM o WHERE o.created_at > now() - (($2 + $5) || $6)::interval";
    assert_eq!(at(q, "+"), vec![2, 5]);
    assert_eq!(at("SELECT ($1) + (($2))", "+"), vec![1, 2]);
    // A call's result, a cast, a subscript or a field is no bare parameter.
    assert_eq!(at("SELECT greatest($1, $2) + $3", "+"), vec![3]);
    assert_eq!(at("SELECT $1::int + $2::int", "+"), Vec::<usize>::new());
    assert_eq!(at("SELECT $1 + ($2)::int", "+"), vec![1]);
    assert_eq!(at("SELECT $1 + $2[1]", "+"), vec![1]);
    // The left operand of a same-precedence operator is the whole left side.
    assert_eq!(at("SELECT a - $1 + $2", "+"), vec![2]);
    // Prefix operators have a right operand only.
    assert_eq!(at("SELECT -$1", "-"), vec![1]);
    assert_eq!(at("SELECT 2 * -$1", "-"), vec![1]);
    assert_eq!(at("SELECT x - $1", "-"), vec![1]);
    // Keyword operators.
    assert_eq!(
        at("SELECT 1 WHERE $1 BETWEEN $2 AND $3", "BETWEEN"),
        vec![1, 2]
    );
    // Operators glued together, as PostgreSQL's lexer cuts them.
    assert_eq!(at("SELECT $1>=-$2", ">="), vec![1]);
    assert_eq!(at("SELECT $1>=-$2", "-"), vec![2]);
    assert_eq!(at("SELECT $1||$2", "||"), vec![1, 2]);
}

#[test]
fn calls_point_at_their_whole_arguments() {
    assert_eq!(
        at("SELECT * FROM generate_series($1, $2)", "generate"),
        vec![1, 2]
    );
    let q = "SELECT pg_catalog.generate_series($1, $2)";
    assert_eq!(at(q, "pg_catalog"), vec![1, 2]);
    assert_eq!(at(r#"SELECT "my f"($4, ($5))"#, "\"my"), vec![4, 5]);
    // Not inside a nested call, not cast.
    let q = "SELECT f(g($1), $2::int, $3, ($4), h($5) + $6)";
    assert_eq!(at(q, "f("), vec![3, 4, 6]);
    assert_eq!(at(q, "g("), vec![1]);
    // Lists and groups inside the call are not calls.
    assert_eq!(at("SELECT f($1, ($2 + 1), ARRAY[$3])", "f("), vec![1, 2, 3]);
    // Parameters after the call are not its arguments.
    assert_eq!(at("SELECT f($1) + $2", "f("), vec![1]);
}

#[test]
fn the_position_is_in_characters_and_skips_what_is_no_code() {
    // Multi-byte characters before the operator: positions count characters.
    let q = "SELECT 'été' AS é, $1 + $2";
    assert_eq!(operand_params(q, pos(q, "+", 0)), vec![1, 2]);
    // `$n` inside strings, quoted identifiers, comments and dollar quotes.
    let q = "SELECT '$9 + $8', \"$7\", $$ $6 $$, $t$ $5 $t$, E'\\' $4', /* $3 /* $3 */ */ $1 + $2 -- $0";
    assert_eq!(operand_params(q, pos(q, "+", 1)), vec![1, 2]);
    // A `+` inside a string is no operator.
    assert_eq!(operand_params(q, pos(q, "+", 0)), Vec::<usize>::new());
    // Out of range, or on a constant, a keyword, a column.
    assert!(operand_params(q, 0).is_empty());
    assert!(operand_params(q, 10_000).is_empty());
    let q = "SELECT total FROM orders WHERE total > 5";
    assert!(at(q, "total").is_empty());
    assert!(at(q, "5").is_empty());
    assert!(at(q, "WHERE").is_empty());
}

#[test]
fn indeterminate_parameters_are_declared_text_one_at_a_time() {
    let none = LiteralTypes::default();
    let mut t = ParamTypes::default();
    assert!(t.types().is_empty() && !t.any_declared());
    assert_eq!(t.prepare_list(), "");
    let msg = "could not determine data type of parameter $3";
    // Another SQLSTATE, a parameter past the limit: nothing to learn.
    assert!(!t.learn(&refusal("42804", msg, None), "", &none, 10));
    assert!(!t.learn(&refusal("42P18", msg, None), "", &none, 2));
    assert!(!t.learn(&refusal("42P18", "no parameter named", None), "", &none, 10));
    assert!(t.learn(&refusal("42P18", msg, None), "", &none, 10));
    assert_eq!(t.types(), [Type::UNKNOWN, Type::UNKNOWN, Type::TEXT]);
    assert_eq!((t.get(2), t.get(7)), (Type::TEXT, Type::UNKNOWN));
    assert_eq!(t.prepare_list(), " (unknown, unknown, text)");
    // The same parameter again: declaring did not help, give up.
    assert!(!t.learn(&refusal("42P18", msg, None), "", &none, 10));
    // A translated message still names `$n`.
    let fr = "n'a pas pu déterminer le type de données du paramètre $1";
    assert!(t.learn(&refusal("42P18", fr, None), "", &none, 10));
    assert_eq!(t.types(), [Type::TEXT, Type::UNKNOWN, Type::TEXT]);
    assert_eq!(t.literal_rounds(), 0);
    assert_eq!(named_param("parameter $12 and $3"), Some(12));
    assert_eq!(named_param("costs $ 5"), None);
}

#[test]
fn ambiguous_operators_declare_the_operands_from_their_samples() {
    let sql = "SELECT count(*) FROM orders WHERE name = $3 AND total > $1 + $2";
    let text = format!("EXPLAIN (FORMAT JSON) {sql}");
    let sample = vals(&[Some("10"), Some("3000000000"), Some("123")]);
    let lit = LiteralTypes::of(&sample);
    let msg = "operator is not unique: unknown + unknown";
    let mut t = ParamTypes::default();
    // Other errors, or not about `unknown`: nothing.
    assert!(!t.learn(&refusal("42601", msg, None), &text, &lit, 3));
    let plain = "operator does not exist: text + integer";
    assert!(!t.learn(
        &refusal("42883", plain, Some(pos(&text, "+", 0))),
        &text,
        &lit,
        3
    ));
    assert_eq!(t, ParamTypes::default());
    // At `+`: `$1` and `$2`, typed by their values; `$3` (a text column) untouched.
    assert!(t.learn(
        &refusal("42725", msg, Some(pos(&text, "+", 0))),
        &text,
        &lit,
        3
    ));
    assert_eq!(t.types(), [Type::INT4, Type::INT8]);
    assert_eq!(t.prepare_list(), " (int4, int8)");
    assert_eq!(t.literal_rounds(), 1);
    // The same refusal again: the position has nothing left, so every other
    // numeric-looking parameter is declared (the last resort)...
    assert!(t.learn(
        &refusal("42725", msg, Some(pos(&text, "+", 0))),
        &text,
        &lit,
        3
    ));
    assert_eq!(t.types(), [Type::INT4, Type::INT8, Type::INT4]);
    // ...and then nothing is left to try.
    assert!(!t.learn(&refusal("42725", msg, None), &text, &lit, 3));
    assert!(!t.learn(&refusal("42883", plain, None), &text, &lit, 3));
}

#[test]
fn calls_declare_their_numeric_arguments_only() {
    let text = "SELECT * FROM generate_series($1, $2) g WHERE $3 = 'x' AND $4 > 0";
    let lit = LiteralTypes::of(&vals(&[Some("1"), Some("3"), Some("7"), Some("9")]));
    let msg = "function generate_series(unknown, unknown) is not unique";
    let mut t = ParamTypes::default();
    assert!(t.learn(
        &refusal("42725", msg, Some(pos(text, "generate", 0))),
        text,
        &lit,
        4
    ));
    assert_eq!(t.types(), [Type::INT4, Type::INT4]);
    // Not numeric-looking, or NULL: never declared, even as a last resort.
    let text = "SELECT date_trunc($1, $2)";
    let lit = LiteralTypes::of(&vals(&[Some("day"), None]));
    let msg = "function date_trunc(unknown, unknown) is not unique";
    let mut t = ParamTypes::default();
    assert!(!t.learn(&refusal("42725", msg, Some(8)), text, &lit, 2));
    assert!(!t.any_declared());
}

#[test]
fn a_position_naming_nothing_declares_every_numeric_looking_parameter() {
    let text = "SELECT $1 + $2, $3";
    let lit = LiteralTypes::of(&vals(&[Some("1"), Some("2.5"), Some("z")]));
    let msg = "operator is not unique: unknown + unknown";
    for position in [None, Some(1)] {
        let mut t = ParamTypes::default();
        assert!(t.learn(&refusal("42725", msg, position), text, &lit, 3));
        assert_eq!(t.types(), [Type::INT4, Type::NUMERIC]);
    }
    // The limit bounds the parameters considered.
    let mut t = ParamTypes::default();
    assert!(t.learn(&refusal("42725", msg, None), text, &lit, 1));
    assert_eq!(t.types(), [Type::INT4]);
}

#[test]
fn literal_rounds_are_bounded() {
    // Five independent failing additions, one refusal each: two rounds follow the
    // position, the third declares everything left, then it stops.
    let text = "SELECT $1 + $2, $3 + $4, $5 + $6, $7 + $8, $9 + $10";
    let sample: Vec<Option<String>> = (1..=10).map(|i| Some(i.to_string())).collect();
    let lit = LiteralTypes::of(&sample);
    let msg = "operator is not unique: unknown + unknown";
    let mut t = ParamTypes::default();
    let mut declared = Vec::new();
    for k in 0..MAX_LITERAL_ROUNDS {
        let r = refusal("42725", msg, Some(pos(text, "+", usize::from(k))));
        assert!(t.learn(&r, text, &lit, 10), "round {k}");
        declared.push(t.types().iter().filter(|t| **t != Type::UNKNOWN).count());
    }
    assert_eq!(declared, vec![2, 4, 10]);
    let r = refusal("42725", msg, Some(pos(text, "+", 3)));
    assert!(!t.learn(&r, text, &lit, 10));
    assert_eq!(t.literal_rounds(), MAX_LITERAL_ROUNDS);
}

#[test]
fn what_was_learned_is_retyped_for_another_sample() {
    let text = "SELECT jsonb_build_object($3, 1), $1 + $2";
    let mut t = ParamTypes::default();
    let lit = LiteralTypes::of(&vals(&[Some("5"), Some("6"), Some("k")]));
    let r = refusal(
        "42725",
        "operator is not unique: unknown + unknown",
        Some(pos(text, "+", 0)),
    );
    assert!(t.learn(&r, text, &lit, 3));
    let r = refusal(
        "42P18",
        "could not determine data type of parameter $3",
        None,
    );
    assert!(t.learn(&r, text, &lit, 3));
    assert_eq!(t.types(), [Type::INT4, Type::INT4, Type::TEXT]);
    // Another sample: literal-typed parameters follow its values (NULL keeps the
    // type), the `text` declaration stays, and the retry budget is fresh.
    let other = LiteralTypes::of(&vals(&[Some("3000000000"), None, Some("7")]));
    let u = t.for_sample(&other);
    assert_eq!(u.types(), [Type::INT8, Type::INT4, Type::TEXT]);
    assert_eq!(u.literal_rounds(), 0);
    // A value that is no number: unspecified again, as a quoted literal would be.
    let words = LiteralTypes::of(&vals(&[Some("ten"), Some("1e3"), None]));
    let u = t.for_sample(&words);
    assert_eq!(u.types(), [Type::UNKNOWN, Type::NUMERIC, Type::TEXT]);
    // And back.
    assert_eq!(u.for_sample(&lit).types(), t.types());
    assert_eq!(
        ParamTypes::default().for_sample(&other),
        ParamTypes::default()
    );
}

#[test]
fn any_text_and_position_is_safe() {
    let texts = [
        "",
        "$",
        "$1",
        "$$",
        "$a",
        "$a$ unterminated",
        "'unterminated $1 + $2",
        "E'\\",
        "E'\\é",
        "\"unterminated",
        "/* unterminated /* nested */",
        "-- comment only",
        "+-*/<>=~!@#%^&|`?",
        "SELECT ((((( $1 + ",
        ") ) ) + $1",
        "SELECT é + ü, $99999999999999999999 + $1, ö(",
        "SELECT 1e+ - 2.e-3 + .5x + $1::",
        "f(((",
        "$1 + $2 ) ) ) (",
    ];
    for text in texts {
        for p in 0..=text.chars().count() + 2 {
            let params = operand_params(text, p);
            assert!(
                params.iter().all(|n| *n >= 1),
                "{text:?} at {p}: {params:?}"
            );
        }
    }
    assert_eq!(at(") ) ) + $1", "+"), vec![1]);
}
