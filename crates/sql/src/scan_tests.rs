use super::*;

fn key(sql: &str) -> Vec<u8> {
    scan(sql).key
}

fn values(sql: &str) -> Vec<String> {
    scan(sql).values(sql)
}

#[test]
fn literals_whitespace_comments_and_case_do_not_change_the_key() {
    let a = key("SELECT * FROM t WHERE a = 5 AND b = 'x'");
    assert_eq!(
        a,
        key("select *\n\tFROM T -- note\n WHERE a = 77 /* c /* nested */ */ AND b = 'it''s'")
    );
    assert_eq!(a, key("SELECT * FROM t WHERE a = 5.5e3 AND b = $$x$$"));
    assert_ne!(a, key("SELECT * FROM t WHERE a = 5 AND c = 'x'"));
    assert_ne!(a, key("SELECT * FROM \"T\" WHERE a = 5 AND b = 'x'"));
}

#[test]
fn params_keep_their_number() {
    let s = scan("SELECT * FROM t WHERE a = $1 AND b = $2");
    assert!(s.has_params);
    assert_eq!(
        s.values("SELECT * FROM t WHERE a = $1 AND b = $2"),
        ["$1", "$2"]
    );
    assert_ne!(s.key, key("SELECT * FROM t WHERE a = $2 AND b = $1"));
    assert_ne!(s.key, key("SELECT * FROM t WHERE a = 1 AND b = 2"));
}

#[test]
fn in_lists_of_any_length_share_a_key() {
    let a = scan("SELECT * FROM t WHERE id IN (1, 2, 3) AND x NOT IN ('a')");
    let b = scan("SELECT * FROM t WHERE id in (7) AND x NOT IN ('a','b', -4)");
    assert_eq!(a.key, b.key);
    assert_eq!(a.lists, [3, 1]);
    assert_eq!(b.lists, [1, 3]);
    assert!(a.literals.iter().all(|l| l.in_list));
    // Param lists and subqueries are not collapsed.
    assert_ne!(
        key("SELECT 1 WHERE a IN ($1, $2)"),
        key("SELECT 1 WHERE a IN ($1)")
    );
    assert_ne!(
        key("SELECT 1 WHERE a IN (SELECT 1)"),
        key("SELECT 1 WHERE a IN (SELECT 1, 2)")
    );
    assert!(scan("SELECT 1 WHERE a IN (b, 1)").lists.is_empty());
}

#[test]
fn string_forms_and_escapes() {
    assert_eq!(
        values(r"SELECT 'it''s', E'a\'b\n', E'\x41\101\u00e9'"),
        ["it's", "a'b\n", "AAé"]
    );
    assert_eq!(values("SELECT 'a\\'"), ["a\\"]); // standard_conforming_strings
    assert_eq!(
        values("SELECT B'101', X'1F', N'nat', U&'d\\0061t'"),
        ["101", "x1F", "nat", "d\\0061t"]
    );
    assert_eq!(
        values("SELECT $$a'b$$, $fn$ $$ inner $$ $fn$"),
        ["a'b", " $$ inner $$ "]
    );
    assert_eq!(values("SELECT 'a'\n  'b', 'c' 'd'"), ["ab", "c", "d"]);
    assert_ne!(key("SELECT N'x'"), key("SELECT 'x'"));
    assert_ne!(key("SELECT E'x'"), key("SELECT B'1'"));
}

#[test]
fn numbers() {
    assert_eq!(
        values("SELECT 1, 1.5, .5, 1e10, 2.5E-3, 0x1F, 0o17, 0b101, 1_000"),
        ["1", "1.5", ".5", "1e10", "2.5E-3", "0x1F", "0o17", "0b101", "1_000"]
    );
    // Digits inside identifiers are not literals; `$` continues an identifier.
    assert!(values("SELECT t1.col2, a$1 FROM t1").is_empty());
}

#[test]
fn quoted_identifiers_are_verbatim_and_hide_quotes() {
    let s = scan(r#"SELECT "we'ird ""x""" FROM "Tbl" WHERE "a--b" = 1"#);
    assert_eq!(s.literals.len(), 1);
    let k = String::from_utf8_lossy(&s.key).into_owned();
    assert!(k.contains(r#""we'ird ""x""""#), "{k}");
    assert!(k.contains("\"Tbl\""));
}

#[test]
fn unterminated_input_runs_to_the_end() {
    for sql in [
        "SELECT 'abc",
        "SELECT E'ab\\",
        "SELECT $$abc",
        "SELECT $t$abc $$",
        "SELECT \"abc",
        "SELECT /* abc /* x */",
    ] {
        let s = scan(sql);
        assert!(s.literals.iter().all(|l| l.span.end <= sql.len()), "{sql}");
        let _ = s.values(sql);
    }
    assert_eq!(values("SELECT 'abc"), ["abc"]);
    assert_eq!(values("SELECT $$abc"), ["abc"]);
}

#[test]
fn non_ascii_text() {
    let sql = "SELECT 'héllo ✓', ünïcode FROM tä WHERE x = '日本'";
    assert_eq!(values(sql), ["héllo ✓", "日本"]);
    assert_eq!(
        scan(sql).key,
        key("SELECT 'a', ünïcode FROM tä WHERE x = 'b'")
    );
}

#[test]
fn scanner_normalize_is_readable() {
    assert_eq!(
        scanner_normalize("SELEC  * FROM t -- c\n WHERE a = 5 AND b = 'x' AND c = $1"),
        "SELEC * FROM t WHERE a = $2 AND b = $3 AND c = $1"
    );
    assert_eq!(scanner_normalize("  x /* c */  'y'  "), "x $1");
}

#[test]
fn random_bytes_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let alphabet = b"'\"$-/*eExXbBnNuU&0123456789. ,()inIN\\\n\t\xc3\xa9a_;:";
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 40) as usize;
        let mut bytes = Vec::with_capacity(len);
        let mut s = state;
        for _ in 0..len {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            bytes.push(alphabet[(s >> 33) as usize % alphabet.len()]);
        }
        let sql = String::from_utf8_lossy(&bytes);
        let out = scan(&sql);
        let _ = out.values(&sql);
        let _ = scanner_normalize(&sql);
    }
}

proptest::proptest! {
    #[test]
    fn scan_never_panics(sql in ".{0,200}") {
        let out = scan(&sql);
        let _ = out.values(&sql);
        let _ = scanner_normalize(&sql);
    }
}
