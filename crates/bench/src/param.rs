//! Parameter values sent with prepared statements in the binary protocol, converted
//! to whatever type the server inferred for each `$n`.

use std::error::Error;
use std::fmt::{self, Write as _};

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

/// One parameter value of a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text, converted by parsing when the parameter has another type.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// A UUID.
    Uuid([u8; 16]),
    /// A value read from a previous step's row, in the server's binary format.
    Raw {
        /// The column's type.
        ty: Type,
        /// The binary value.
        bytes: Vec<u8>,
    },
}

/// A value that cannot be sent as the parameter's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertError(pub String);

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for ConvertError {}

type BoxError = Box<dyn Error + Sync + Send>;

fn err(msg: String) -> BoxError {
    Box::new(ConvertError(msg))
}

/// True when [`ParamValue`] can encode parameters of this type.
pub fn supports(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::BOOL
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::JSONB
            | Type::UUID
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
            | Type::DATE
    )
}

/// True when a column of this type can be converted for a parameter of another
/// type (see [`ParamValue::decode_raw`]).
pub fn decodable(ty: &Type) -> bool {
    supports(ty) && !matches!(*ty, Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE)
}

impl ParamValue {
    /// The value as an integer.
    fn as_i64(&self) -> Result<i64, BoxError> {
        match self {
            ParamValue::Int(i) => Ok(*i),
            ParamValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
            ParamValue::Bool(b) => Ok(i64::from(*b)),
            ParamValue::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| err(format!("{t:?} is not an integer"))),
            other => Err(err(format!("{} is not an integer", other.describe()))),
        }
    }

    fn as_f64(&self) -> Result<f64, BoxError> {
        match self {
            ParamValue::Int(i) => Ok(*i as f64),
            ParamValue::Float(f) => Ok(*f),
            ParamValue::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| err(format!("{t:?} is not a number"))),
            other => Err(err(format!("{} is not a number", other.describe()))),
        }
    }

    fn as_bool(&self) -> Result<bool, BoxError> {
        match self {
            ParamValue::Bool(b) => Ok(*b),
            ParamValue::Int(0) => Ok(false),
            ParamValue::Int(1) => Ok(true),
            ParamValue::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                "t" | "true" | "yes" | "y" | "on" | "1" => Ok(true),
                "f" | "false" | "no" | "n" | "off" | "0" => Ok(false),
                _ => Err(err(format!("{t:?} is not a boolean"))),
            },
            other => Err(err(format!("{} is not a boolean", other.describe()))),
        }
    }

    fn describe(&self) -> String {
        match self {
            ParamValue::Null => "NULL".into(),
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Float(f) => f.to_string(),
            ParamValue::Text(t) => format!("{t:?}"),
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Uuid(_) => "a uuid".into(),
            ParamValue::Raw { ty, .. } => format!("a {ty} value"),
        }
    }

    /// Writes the value's text form.
    fn write_text(&self, out: &mut BytesMut) -> Result<(), BoxError> {
        match self {
            ParamValue::Text(t) => out.put_slice(t.as_bytes()),
            ParamValue::Int(i) => write!(out, "{i}")?,
            ParamValue::Float(f) => write!(out, "{f}")?,
            ParamValue::Bool(b) => out.put_slice(if *b { b"true" } else { b"false" }),
            ParamValue::Uuid(u) => out.put_slice(format_uuid(u).as_bytes()),
            ParamValue::Null | ParamValue::Raw { .. } => {
                return Err(err(format!("{} has no text form", self.describe())))
            }
        }
        Ok(())
    }

    /// Converts a raw value read from a row into a plain one.
    pub fn decode_raw(ty: &Type, raw: &[u8]) -> Result<ParamValue, BoxError> {
        Ok(match *ty {
            Type::INT2 => ParamValue::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => ParamValue::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => ParamValue::Int(i64::from_sql(ty, raw)?),
            Type::OID => ParamValue::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => ParamValue::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => ParamValue::Float(f64::from_sql(ty, raw)?),
            Type::BOOL => ParamValue::Bool(bool::from_sql(ty, raw)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                ParamValue::Text(std::str::from_utf8(raw)?.to_string())
            }
            Type::JSONB => ParamValue::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default())?.to_string()),
            Type::UUID => ParamValue::Uuid(raw.try_into().map_err(|_| err("bad uuid".into()))?),
            Type::NUMERIC => ParamValue::Text(decode_numeric(raw)?),
            _ => return Err(err(format!("values of type {ty} cannot be passed on to another type; cast the column to text in the SQL"))),
        })
    }
}

impl ToSql for ParamValue {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            ParamValue::Null => return Ok(IsNull::Yes),
            ParamValue::Raw { ty: rty, bytes } => {
                if rty == ty {
                    out.put_slice(bytes);
                    return Ok(IsNull::No);
                }
                return ParamValue::decode_raw(rty, bytes)?.to_sql(ty, out);
            }
            _ => {}
        }
        match *ty {
            Type::INT2 => out.put_i16(i16::try_from(self.as_i64()?).map_err(|_| err(format!("{} is out of range for smallint", self.describe())))?),
            Type::INT4 => out.put_i32(i32::try_from(self.as_i64()?).map_err(|_| err(format!("{} is out of range for integer", self.describe())))?),
            Type::INT8 => out.put_i64(self.as_i64()?),
            Type::OID => out.put_u32(u32::try_from(self.as_i64()?).map_err(|_| err(format!("{} is out of range for oid", self.describe())))?),
            Type::FLOAT4 => out.put_f32(self.as_f64()? as f32),
            Type::FLOAT8 => out.put_f64(self.as_f64()?),
            Type::BOOL => out.put_u8(u8::from(self.as_bool()?)),
            Type::NUMERIC => {
                let text = match self {
                    ParamValue::Text(t) => t.clone(),
                    ParamValue::Int(i) => i.to_string(),
                    ParamValue::Float(f) => format!("{f}"),
                    other => return Err(err(format!("{} is not a number", other.describe()))),
                };
                encode_numeric(&text, out)?;
            }
            Type::JSONB => {
                out.put_u8(1);
                self.write_text(out)?;
            }
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
                self.write_text(out)?
            }
            Type::UUID => match self {
                ParamValue::Uuid(u) => out.put_slice(u),
                ParamValue::Text(t) => out.put_slice(&parse_uuid(t).ok_or_else(|| err(format!("{t:?} is not a uuid")))?),
                other => return Err(err(format!("{} is not a uuid", other.describe()))),
            },
            Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE => {
                let ParamValue::Text(t) = self else {
                    return Err(err(format!("{} is not a date or timestamp (use ISO text such as 2024-01-31 12:00:00)", self.describe())));
                };
                let (micros, has_time) = parse_timestamp(t, *ty == Type::TIMESTAMPTZ)
                    .ok_or_else(|| err(format!("{t:?} is not an ISO date or timestamp (YYYY-MM-DD[ HH:MM[:SS[.ffffff]]][Z|+HH:MM])")))?;
                if *ty == Type::DATE {
                    if has_time {
                        return Err(err(format!("{t:?} is not a date (YYYY-MM-DD)")));
                    }
                    out.put_i32(i32::try_from(micros.div_euclid(86_400_000_000)).map_err(|_| err(format!("{t:?} is out of range")))?);
                } else {
                    out.put_i64(micros);
                }
            }
            _ => {
                return Err(err(format!(
                    "parameters of type {ty} are not supported; cast the placeholder in the SQL, e.g. $1::text::{ty}"
                )))
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A column value of any type kept in its binary form, for `row:` parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RawCell(pub ParamValue);

impl<'a> FromSql<'a> for RawCell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawCell(ParamValue::Raw {
            ty: ty.clone(),
            bytes: raw.to_vec(),
        }))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(RawCell(ParamValue::Null))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Encodes decimal text (`-12.5`, `1e3`, `NaN`, `Infinity`) as binary `numeric`.
pub fn encode_numeric(text: &str, out: &mut BytesMut) -> Result<(), BoxError> {
    let t = text.trim();
    let bad = || err(format!("{text:?} is not a number"));
    let special = |sign: u16, out: &mut BytesMut| -> Result<(), BoxError> {
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(sign);
        out.put_u16(0);
        Ok(())
    };
    match t.to_ascii_lowercase().as_str() {
        "nan" => return special(0xC000, out),
        "infinity" | "+infinity" | "inf" | "+inf" => return special(0xD000, out),
        "-infinity" | "-inf" => return special(0xF000, out),
        _ => {}
    }
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(p) => (&body[..p], body[p + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (body, 0),
    };
    let (int_s, frac_s) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_s.is_empty() && frac_s.is_empty())
        || !int_s
            .bytes()
            .chain(frac_s.bytes())
            .all(|b| b.is_ascii_digit())
        || exp.abs() > 100_000
    {
        return Err(bad());
    }
    // All digits, and the position of the decimal point within them.
    let digits: Vec<u8> = int_s
        .bytes()
        .chain(frac_s.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = int_s.len() as i64 + i64::from(exp);
    let dscale = (digits.len() as i64 - point).max(0);
    // Pad so the point falls on a 4-digit group boundary.
    let lead = (4 - point.rem_euclid(4)) % 4;
    let mut padded: Vec<u8> = std::iter::repeat(0)
        .take(lead as usize)
        .chain(digits)
        .collect();
    let int_len = point + lead; // digits before the point, a multiple of 4 (may be <= 0)
    while (padded.len() as i64) < int_len {
        padded.push(0);
    }
    let extra = (4 - (padded.len() % 4)) % 4;
    padded.extend(std::iter::repeat(0).take(extra));
    let mut groups: Vec<i16> = padded
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |a, &d| a * 10 + i16::from(d)))
        .collect();
    let mut weight = int_len / 4 - 1;
    let leading_zeros = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading_zeros);
    weight -= leading_zeros as i64;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let too_big = || err(format!("{text:?} is out of range for numeric"));
    out.put_i16(i16::try_from(groups.len()).map_err(|_| too_big())?);
    out.put_i16(i16::try_from(weight).map_err(|_| too_big())?);
    out.put_u16(if neg && !groups.is_empty() { 0x4000 } else { 0 });
    out.put_u16(u16::try_from(dscale).map_err(|_| too_big())?);
    for g in groups {
        out.put_i16(g);
    }
    Ok(())
}

/// Decodes binary `numeric` into decimal text.
pub fn decode_numeric(raw: &[u8]) -> Result<String, BoxError> {
    let bad = || err("malformed numeric value".into());
    let word = |i: usize| -> Result<i16, BoxError> {
        let b = raw.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| bad())?;
    let weight = i64::from(word(1)?);
    let sign = word(2)? as u16;
    let dscale = usize::try_from(word(3)?).map_err(|_| bad())?;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let groups: Vec<i16> = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for k in 0..=weight {
            let g = groups.get(k as usize).copied().unwrap_or(0);
            if k == 0 {
                let _ = write!(s, "{g}");
            } else {
                let _ = write!(s, "{g:04}");
            }
        }
    }
    if dscale > 0 {
        s.push('.');
        let mut frac = String::new();
        let mut k = weight + 1;
        while frac.len() < dscale {
            let g = if k < 0 {
                0
            } else {
                groups.get(k as usize).copied().unwrap_or(0)
            };
            let _ = write!(frac, "{g:04}");
            k += 1;
        }
        frac.truncate(dscale);
        s.push_str(&frac);
    }
    Ok(s)
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hyphens and braces optional).
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .bytes()
        .filter(|&b| b != b'-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// The canonical text of a UUID.
pub fn format_uuid(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an ISO date or timestamp into microseconds since 2000-01-01 00:00 (UTC
/// when `apply_offset` and an offset is given) and whether it had a time part.
pub fn parse_timestamp(text: &str, apply_offset: bool) -> Option<(i64, bool)> {
    let t = text.trim();
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let date = t.get(..10)?;
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if date.len() != 10 || !(1..=12).contains(&m) || d < 1 || d > mdays[(m - 1) as usize] {
        return None;
    }
    let days = days_from_civil(y, m, d) - 10_957;
    let rest = &t[10..];
    if rest.is_empty() {
        return Some((days * 86_400_000_000, false));
    }
    let rest = rest.strip_prefix([' ', 'T', 't'])?;
    // Split off a zone suffix.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let mut cp = clock.trim().split(':');
    let h = num(cp.next()?)?;
    let mi = num(cp.next()?)?;
    let (s, frac) = match cp.next() {
        Some(sec) => {
            let (s, f) = sec.split_once('.').unwrap_or((sec, ""));
            let mut f = f.to_string();
            if !f.bytes().all(|b| b.is_ascii_digit())
                || f.len() > 6 && !f[6..].bytes().all(|b| b == b'0')
            {
                return None;
            }
            f.truncate(6);
            while f.len() < 6 {
                f.push('0');
            }
            (num(s)?, f.parse::<i64>().ok()?)
        }
        None => (0, 0),
    };
    if cp.next().is_some() || h > 24 || mi > 59 || s > 60 {
        return None;
    }
    let mut micros = days * 86_400_000_000 + ((h * 60 + mi) * 60 + s) * 1_000_000 + frac;
    if !zone.is_empty() && !zone.eq_ignore_ascii_case("z") {
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let z = zone.get(1..)?;
        let (zh, zm) = match z.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None if z.len() == 4 => (num(z.get(..2)?)?, num(z.get(2..)?)?),
            None => (num(z)?, 0),
        };
        if apply_offset {
            micros -= sign * (zh * 60 + zm) * 60_000_000;
        }
    }
    Some((micros, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &ParamValue, ty: &Type) -> Result<Vec<u8>, String> {
        let mut b = BytesMut::new();
        v.to_sql(ty, &mut b).map_err(|e| e.to_string())?;
        Ok(b.to_vec())
    }

    fn numeric(text: &str) -> Vec<i16> {
        let mut b = BytesMut::new();
        encode_numeric(text, &mut b).expect("valid");
        b.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn integers_follow_the_parameter_type() {
        assert_eq!(enc(&ParamValue::Int(5), &Type::INT4), Ok(vec![0, 0, 0, 5]));
        assert_eq!(enc(&ParamValue::Int(-2), &Type::INT2), Ok(vec![0xff, 0xfe]));
        assert_eq!(
            enc(&ParamValue::Int(7), &Type::INT8),
            Ok(7i64.to_be_bytes().to_vec())
        );
        assert_eq!(
            enc(&ParamValue::Text("42".into()), &Type::INT4),
            Ok(vec![0, 0, 0, 42])
        );
        assert_eq!(enc(&ParamValue::Int(42), &Type::TEXT), Ok(b"42".to_vec()));
        assert_eq!(
            enc(&ParamValue::Int(2), &Type::FLOAT8),
            Ok(2f64.to_be_bytes().to_vec())
        );
        assert!(enc(&ParamValue::Int(70_000), &Type::INT2)
            .expect_err("range")
            .contains("out of range"));
        assert!(enc(&ParamValue::Text("x".into()), &Type::INT4).is_err());
    }

    #[test]
    fn other_types_encode_or_fail_cleanly() {
        assert_eq!(
            enc(&ParamValue::Text("on".into()), &Type::BOOL),
            Ok(vec![1])
        );
        assert_eq!(
            enc(&ParamValue::Text("{\"a\":1}".into()), &Type::JSONB),
            Ok(b"\x01{\"a\":1}".to_vec())
        );
        let u = enc(
            &ParamValue::Text("550e8400-e29b-41d4-a716-446655440000".into()),
            &Type::UUID,
        )
        .expect("uuid");
        assert_eq!(u.len(), 16);
        assert_eq!(
            format_uuid(&u.try_into().expect("16")),
            "550e8400-e29b-41d4-a716-446655440000"
        );
        assert_eq!(enc(&ParamValue::Null, &Type::INT4), Ok(vec![]));
        let e = enc(&ParamValue::Int(1), &Type::INET).expect_err("unsupported");
        assert!(e.contains("not supported"), "{e}");
        assert!(!supports(&Type::INET) && supports(&Type::NUMERIC));
    }

    #[test]
    fn timestamps_and_dates() {
        assert_eq!(parse_timestamp("2000-01-01", false), Some((0, false)));
        assert_eq!(
            parse_timestamp("2000-01-02 00:00:01.5", false),
            Some((86_401_500_000, true))
        );
        assert_eq!(
            parse_timestamp("2000-01-01T02:00:00+02:00", true),
            Some((0, true))
        );
        assert_eq!(
            parse_timestamp("1999-12-31T23:00Z", true),
            Some((-3_600_000_000, true))
        );
        assert_eq!(parse_timestamp("2023-02-29", false), None);
        assert_eq!(parse_timestamp("yesterday", false), None);
        assert_eq!(
            enc(&ParamValue::Text("2000-01-03".into()), &Type::DATE),
            Ok(vec![0, 0, 0, 2])
        );
    }

    #[test]
    fn numeric_binary_format() {
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(numeric("0"), [0, 0, 0, 0]);
        assert_eq!(numeric("12345.678"), [3, 1, 0, 3, 1, 2345, 6780]);
        assert_eq!(numeric("-0.0001"), [1, -1, 0x4000, 4, 1]);
        assert_eq!(numeric("1e4"), [1, 1, 0, 0, 1]);
        assert_eq!(numeric("1.50"), [2, 0, 0, 2, 1, 5000]);
        assert_eq!(numeric("10000.0000"), [1, 1, 0, 4, 1]);
        assert_eq!(numeric("NaN"), [0, 0, 0xC000u16 as i16, 0]);
        let mut b = BytesMut::new();
        assert!(encode_numeric("1.2.3", &mut b).is_err());
        assert!(encode_numeric("", &mut b).is_err());
        assert!(encode_numeric("abc", &mut b).is_err());
    }

    #[test]
    fn numeric_round_trips_through_text() {
        for t in [
            "0",
            "1",
            "-1",
            "12345.678",
            "0.0001",
            "-98765432109876.54321",
            "1.50",
            "100",
        ] {
            let mut b = BytesMut::new();
            encode_numeric(t, &mut b).expect("valid");
            assert_eq!(decode_numeric(&b).expect("decodes"), t);
        }
    }

    #[test]
    fn raw_values_are_passed_through_or_converted() {
        let raw = ParamValue::Raw {
            ty: Type::INT4,
            bytes: vec![0, 0, 1, 0],
        };
        assert_eq!(enc(&raw, &Type::INT4), Ok(vec![0, 0, 1, 0]));
        assert_eq!(enc(&raw, &Type::INT8), Ok(256i64.to_be_bytes().to_vec()));
        assert_eq!(enc(&raw, &Type::TEXT), Ok(b"256".to_vec()));
        let bad = ParamValue::Raw {
            ty: Type::INT4,
            bytes: vec![0],
        };
        assert!(enc(&bad, &Type::INT8).is_err());
    }
}
