//! The [`Fingerprint`] newtype and the uncached [`fingerprint`] / [`normalize`] functions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tree::{alias_rewrite, TreeInfo};
use crate::SqlError;

/// Fingerprint options used everywhere in pgpilot: relation names count and aliases
/// do not (`FROM users u` = `FROM users x`; alias-qualified columns are canonicalized
/// by [`fingerprint`] itself), and schema names count, the way PostgreSQL ≤ 17
/// computed query IDs.
/// libpg_query 18's default would instead fingerprint the *alias* in place of the
/// table name, so `FROM users u` and `FROM orders u` could group together.
pub(crate) const FINGERPRINT_OPTIONS: pg_query::FingerprintOptions =
    pg_query::FingerprintOptions::RANGEVAR_PG17_COMPAT;

/// A 64-bit statement fingerprint; displayed and serialized as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Fingerprint {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Fingerprint)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// PostgreSQL's fingerprint of `sql` (constants, `$n` parameters, IN-list lengths,
/// whitespace, comments and keyword case are ignored), made insensitive to range
/// aliases: `SELECT u.a FROM users u` and `SELECT x.a FROM users x` (and
/// `SELECT users.a FROM users`) fingerprint alike. Alias-qualified column references
/// are rewritten to a canonical alias derived from the relation before fingerprinting
/// (see the crate's `tree` module for the exact rule); statements without such
/// references fingerprint exactly as libpg_query does. Runs the full parser every
/// time; use a [`Normalizer`](crate::Normalizer) on hot paths.
pub fn fingerprint(sql: &str) -> Result<Fingerprint, SqlError> {
    // No `.` outside literals and comments: no qualified column reference to rewrite.
    if !crate::scan(sql).key.contains(&b'.') {
        return fingerprint_with(sql, None);
    }
    let parsed = pg_query::parse(sql, 0).ok();
    let info = parsed.as_ref().and_then(|p| TreeInfo::of(&p.protobuf));
    fingerprint_with(sql, info.as_ref())
}

/// [`fingerprint`] with the parse tree's [`TreeInfo`] already at hand (`None`: plain
/// libpg_query fingerprint). Falls back to the plain fingerprint if the rewritten
/// text cannot be fingerprinted.
pub(crate) fn fingerprint_with(
    sql: &str,
    info: Option<&TreeInfo>,
) -> Result<Fingerprint, SqlError> {
    if let Some(text) = info.and_then(|i| alias_rewrite(sql, i)) {
        if let Ok(fp) = pg_query::fingerprint(&text, 0, FINGERPRINT_OPTIONS) {
            return Ok(Fingerprint(fp.value));
        }
    }
    Ok(Fingerprint(
        pg_query::fingerprint(sql, 0, FINGERPRINT_OPTIONS)?.value,
    ))
}

/// `sql` with every constant replaced by `$1`, `$2`, … (libpg_query's normalization;
/// whitespace and comments are kept), rewritten like [`Analysis::normalized`](crate::Analysis::normalized)
/// so that it can be PREPAREd: constant `IN (…)` lists become `= ANY($k)` and typed
/// literals `interval $k` become `$k::interval`. Runs the full parser every time.
pub fn normalize(sql: &str) -> Result<String, SqlError> {
    let raw = pg_query::normalize(sql)?;
    Ok(crate::normalizer::rewritten(sql).unwrap_or(raw))
}

#[cfg(test)]
#[path = "alias_tests.rs"]
mod alias_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(sql: &str) -> Fingerprint {
        fingerprint(sql).expect("parses")
    }

    #[test]
    fn display_and_serde_use_16_hex_digits() {
        let f = Fingerprint(0xab);
        assert_eq!(f.to_string(), "00000000000000ab");
        let json = serde_json::to_string(&f).expect("serializes");
        assert_eq!(json, "\"00000000000000ab\"");
        let back: Fingerprint = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, f);
        assert!(serde_json::from_str::<Fingerprint>("\"zz\"").is_err());
    }

    #[test]
    fn grouping_ignores_constants_lists_params_case_and_whitespace() {
        let base = fp("SELECT * FROM t WHERE a IN (1, 2) AND b = 'x'");
        assert_eq!(base, fp("SELECT * FROM t WHERE a IN (1, 2, 3) AND b = 'y'"));
        assert_eq!(
            base,
            fp("select *\n  from T where A in ($1) and B = $2 -- c")
        );
        assert_eq!(base, fp("SELECT * FROM t WHERE a IN (5) AND b = /* x */ 7"));
        assert_ne!(base, fp("SELECT * FROM t WHERE a IN (1, 2) AND c = 'x'"));
    }

    #[test]
    fn unreferenced_aliases_are_ignored_but_table_names_count() {
        let a = fp("SELECT * FROM users u WHERE a = 1");
        assert_eq!(a, fp("SELECT * FROM users x WHERE a = 2"));
        assert_eq!(a, fp("SELECT * FROM users WHERE a = 2"));
        assert_ne!(a, fp("SELECT * FROM orders u WHERE a = 1"));
        assert_ne!(a, fp("SELECT * FROM other.users u WHERE a = 1"));
    }

    #[test]
    fn multi_statement_strings_fingerprint_as_a_whole() {
        assert_eq!(fp("SELECT 1; SELECT 2"), fp("SELECT 3; SELECT 4"));
        assert_ne!(fp("SELECT 1; SELECT 2"), fp("SELECT 1"));
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(fingerprint("SELEC 1"), Err(SqlError::Parse(_))));
        assert_eq!(fingerprint("SELECT '\0'"), Err(SqlError::NulByte));
        assert_eq!(
            normalize("SELECT * FROM t WHERE a = 5").as_deref(),
            Ok("SELECT * FROM t WHERE a = $1")
        );
        assert_eq!(
            normalize("SELECT * FROM t WHERE a IN (5, 6) AND b > date '2024-01-01'").as_deref(),
            Ok("SELECT * FROM t WHERE a = ANY($1) AND b > $2::date")
        );
    }
}
