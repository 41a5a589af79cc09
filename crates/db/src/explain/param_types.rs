//! The types declared for a statement's parameters when it is prepared to bind
//! sampled values as text ([`ParamTypes`]), and what is learned from the
//! server's refusals to prepare it.
//!
//! Normalization (pg_stat_statements, log parsing) replaces literals with `$n`.
//! A literal's type came from its syntax (`10` is `int4`, `1.5` is `numeric`,
//! `'x'` is `unknown`, resolved from context); a parameter has no type of its own,
//! so a few statements that planned fine with their literals cannot be prepared
//! any more. Two cases are recognised, and only after the server refused:
//!
//! * **42P18** "could not determine data type of parameter $n": `$n` is declared
//!   `text` (the type an untyped literal would have taken), one per refusal.
//! * **42725 / 42883** (ambiguous or undefined function / operator) whose message
//!   mentions `unknown`: the parameters at the failing operator or inside the
//!   failing call's parentheses (located with the error position, see
//!   [`operand_params`]) are declared as the literal syntax would have typed
//!   their sampled values ([`literal_type`]: `int4` / `int8` / `numeric`);
//!   parameters whose samples are not unquoted-numeric-looking are never
//!   declared. When the position names none of them (or a declaration did not
//!   help), every such parameter is declared at once. At most
//!   [`MAX_LITERAL_ROUNDS`] such rounds are made per statement.
//!
//! A sampled value cannot tell a number literal from a quoted string that looks
//! like one (`'999'`): this is why nothing is declared before a refusal, so a
//! statement that prepares today is never affected.

mod operands;
#[cfg(test)]
mod tests;

use tokio_postgres::error::ErrorPosition;
use tokio_postgres::types::Type;

use operands::operand_params;

/// SQLSTATE `indeterminate_datatype`: "could not determine data type of parameter $n".
const INDETERMINATE_DATATYPE: &str = "42P18";
/// SQLSTATE `ambiguous_function` ("function … is not unique", "operator is not unique").
const AMBIGUOUS_FUNCTION: &str = "42725";
/// SQLSTATE `undefined_function` ("function … does not exist", "operator does not exist").
const UNDEFINED_FUNCTION: &str = "42883";

/// Largest parameter number PostgreSQL accepts (the protocol counts them in 16 bits).
pub(crate) const MAX_PARAMS: usize = 65_535;

/// Re-prepares allowed per statement for declarations from literal syntax: the
/// first ones declare the parameters the error position points at, the last one
/// every parameter whose sample looks numeric.
pub(crate) const MAX_LITERAL_ROUNDS: u8 = 3;

/// The type PostgreSQL gives an *unquoted* numeric constant written as `value`
/// (a leading minus allowed, as the parser folds it into the constant): `int4`
/// when it is an integer that fits, else `int8` when it fits, else `numeric`;
/// `numeric` for a decimal point or an exponent. `None` for anything else
/// (quoted strings, `NaN`, hexadecimal or underscored forms, spaces).
pub(crate) fn literal_type(value: &str) -> Option<Type> {
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    let b = unsigned.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(0);
    let mut at = int;
    let mut frac = 0;
    let point = b.get(at) == Some(&b'.');
    if point {
        frac = digits(at + 1);
        at += 1 + frac;
    }
    if int + frac == 0 {
        return None;
    }
    let exponent = matches!(b.get(at), Some(b'e' | b'E'));
    if exponent {
        at += 1;
        if matches!(b.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        let e = digits(at);
        if e == 0 {
            return None;
        }
        at += e;
    }
    if at != b.len() {
        return None;
    }
    if point || exponent {
        return Some(Type::NUMERIC);
    }
    Some(match value.parse::<i64>() {
        Ok(v) if i32::try_from(v).is_ok() => Type::INT4,
        Ok(_) => Type::INT8,
        Err(_) => Type::NUMERIC,
    })
}

/// `int4` < `int8` < `numeric`: the type holding both.
fn wider(a: Type, b: Type) -> Type {
    let rank = |t: &Type| match *t {
        Type::INT4 => 0,
        Type::INT8 => 1,
        _ => 2,
    };
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

/// What a parameter's sampled value(s) would have been as literals.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Literal {
    /// NULL (or no sample): says nothing.
    Null,
    /// Not an unquoted numeric constant: a quoted string, typed from context.
    Other,
    /// A numeric constant of this type ([`literal_type`]).
    Number(Type),
}

/// Per parameter, what its sampled value(s) would have been as literals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LiteralTypes(Vec<Literal>);

impl LiteralTypes {
    /// Of one sample (`None` = NULL).
    pub(crate) fn of(values: &[Option<String>]) -> Self {
        LiteralTypes(values.iter().map(|v| literal(v.as_deref())).collect())
    }

    /// Of several samples bound to one prepared statement: per parameter the
    /// widest type over the samples, provided every non-NULL value looks numeric.
    pub(crate) fn widest(samples: &[Vec<Option<String>>]) -> Self {
        let len = samples.iter().map(Vec::len).max().unwrap_or(0);
        let out = (0..len).map(|i| {
            samples
                .iter()
                .filter_map(|s| s.get(i))
                .map(|v| literal(v.as_deref()))
                .fold(Literal::Null, |acc, l| match (acc, l) {
                    (Literal::Other, _) | (_, Literal::Other) => Literal::Other,
                    (Literal::Null, l) | (l, Literal::Null) => l,
                    (Literal::Number(a), Literal::Number(b)) => Literal::Number(wider(a, b)),
                })
        });
        LiteralTypes(out.collect())
    }

    /// The numeric literal type for parameter `$(i + 1)`.
    fn get(&self, i: usize) -> Option<&Type> {
        match self.0.get(i) {
            Some(Literal::Number(t)) => Some(t),
            _ => None,
        }
    }
}

fn literal(value: Option<&str>) -> Literal {
    match value {
        None => Literal::Null,
        Some(v) => literal_type(v).map_or(Literal::Other, Literal::Number),
    }
}

/// What a refused prepare said, as far as [`ParamTypes::learn`] is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal<'a> {
    /// SQLSTATE.
    pub(crate) code: Option<&'a str>,
    /// The primary message.
    pub(crate) message: &'a str,
    /// 1-based character position in the prepared text, when the server gave one.
    pub(crate) position: Option<usize>,
}

impl<'a> Refusal<'a> {
    /// Of a driver error; `None` when it is not a server error.
    pub(crate) fn of(e: &'a tokio_postgres::Error) -> Option<Self> {
        let db = e.as_db_error()?;
        Some(Refusal {
            code: Some(db.code().code()),
            message: db.message(),
            position: match db.position() {
                Some(ErrorPosition::Original(p)) => usize::try_from(*p).ok(),
                _ => None,
            },
        })
    }
}

/// The types declared for a statement's parameters when it is prepared to bind
/// sampled values as text. At first nothing is declared: the server infers every
/// type from the statement, exactly as for the application. See the module
/// documentation for what is declared after which refusal; the caller prepares
/// again whenever [`ParamTypes::learn`] returns `true`. Every such `true` declares
/// at least one more parameter, so retrying always ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParamTypes {
    types: Vec<Type>,
    /// Parameters declared from their sample's literal syntax (re-typed per sample).
    literal: Vec<bool>,
    /// Rounds of declarations from literal syntax so far.
    rounds: u8,
}

impl ParamTypes {
    /// The types to send when preparing: `unknown` (= unspecified, the server
    /// infers it) except for declared parameters; parameters past the end are
    /// unspecified too.
    pub(crate) fn types(&self) -> &[Type] {
        &self.types
    }

    /// The type to send for parameter `$(i + 1)`.
    pub(crate) fn get(&self, i: usize) -> Type {
        self.types.get(i).cloned().unwrap_or(Type::UNKNOWN)
    }

    /// Whether some parameter is declared.
    pub(crate) fn any_declared(&self) -> bool {
        self.types.iter().any(|t| *t != Type::UNKNOWN)
    }

    /// Rounds of declarations from literal syntax made (see [`MAX_LITERAL_ROUNDS`]).
    pub(crate) fn literal_rounds(&self) -> u8 {
        self.rounds
    }

    /// The parameter list of a `PREPARE name (…) AS` statement declaring these
    /// types (`(unknown, text, int4)`), or an empty string when nothing is declared.
    pub(crate) fn prepare_list(&self) -> String {
        if !self.any_declared() {
            return String::new();
        }
        let names: Vec<&str> = self.types.iter().map(Type::name).collect();
        format!(" ({})", names.join(", "))
    }

    /// What was learned for one sample, reused for another (a fresh retry budget):
    /// the parameters declared from literal syntax take the type *these* values
    /// have as literals (`5` then `3000000000`: `int4` then `int8`; a value that is
    /// no number leaves the parameter unspecified, like a quoted literal) and keep
    /// theirs for NULL.
    pub(crate) fn for_sample(&self, literals: &LiteralTypes) -> ParamTypes {
        let mut out = self.clone();
        out.rounds = 0;
        for (i, from_literal) in self.literal.iter().enumerate() {
            match (*from_literal, literals.0.get(i)) {
                (true, Some(Literal::Number(t))) => out.types[i] = t.clone(),
                (true, Some(Literal::Other)) => out.types[i] = Type::UNKNOWN,
                _ => {}
            }
        }
        out
    }

    fn declare(&mut self, n: usize, ty: Type, from_literal: bool) {
        if self.types.len() < n {
            self.types.resize(n, Type::UNKNOWN);
        }
        if self.literal.len() < n {
            self.literal.resize(n, false);
        }
        self.types[n - 1] = ty;
        self.literal[n - 1] = from_literal;
    }

    /// After the server refused to prepare `text` (the statement as sent, whose
    /// `$n` numbering the parameters, `n <= limit`) with the values whose literal
    /// types are `literals`: declares what the refusal calls for (see the module
    /// documentation) and returns `true` (prepare again), or `false`.
    pub(crate) fn learn(
        &mut self,
        refusal: &Refusal<'_>,
        text: &str,
        literals: &LiteralTypes,
        limit: usize,
    ) -> bool {
        match refusal.code {
            Some(INDETERMINATE_DATATYPE) => self.learn_text(refusal.message, limit),
            // After a round of declarations, the message names the declared types
            // rather than `unknown` (`text + integer`): still this mechanism's to fix.
            Some(AMBIGUOUS_FUNCTION | UNDEFINED_FUNCTION)
                if refusal.message.contains("unknown") || self.rounds > 0 =>
            {
                self.learn_literals(refusal.position, text, literals, limit)
            }
            _ => false,
        }
    }

    /// [`ParamTypes::learn`] from a driver error.
    pub(crate) fn learn_from(
        &mut self,
        e: &tokio_postgres::Error,
        text: &str,
        literals: &LiteralTypes,
        limit: usize,
    ) -> bool {
        Refusal::of(e).is_some_and(|r| self.learn(&r, text, literals, limit))
    }

    /// 42P18 naming a parameter `$n`, `n <= limit`, still unspecified: `text`.
    fn learn_text(&mut self, message: &str, limit: usize) -> bool {
        let Some(n) = named_param(message).filter(|n| (1..=limit).contains(n)) else {
            return false;
        };
        if self.get(n - 1) != Type::UNKNOWN {
            return false;
        }
        self.declare(n, Type::TEXT, false);
        true
    }

    /// A function or operator that `unknown` arguments left unresolved.
    fn learn_literals(
        &mut self,
        position: Option<usize>,
        text: &str,
        literals: &LiteralTypes,
        limit: usize,
    ) -> bool {
        if self.rounds >= MAX_LITERAL_ROUNDS {
            return false;
        }
        let open = |n: &usize| {
            (1..=limit).contains(n)
                && self.get(n - 1) == Type::UNKNOWN
                && literals.get(n - 1).is_some()
        };
        let mut chosen: Vec<usize> = Vec::new();
        if self.rounds + 1 < MAX_LITERAL_ROUNDS {
            if let Some(p) = position {
                chosen = operand_params(text, p).into_iter().filter(open).collect();
            }
        }
        if chosen.is_empty() {
            chosen = (1..=limit.min(literals.0.len())).filter(open).collect();
        }
        if chosen.is_empty() {
            return false;
        }
        self.rounds += 1;
        for n in chosen {
            if let Some(t) = literals.get(n - 1) {
                self.declare(n, t.clone(), true);
            }
        }
        true
    }
}

/// The `n` of the first `$n` in a server message (translations keep `$n`).
fn named_param(message: &str) -> Option<usize> {
    message.match_indices('$').find_map(|(at, _)| {
        let digits: String = message[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}
