//! [`LatencyHistogram`]: an HDR histogram of per-call latencies in microseconds.

use base64::Engine as _;
use hdrhistogram::serialization::{
    Deserializer as HdrDeserializer, Serializer as _, V2DeflateSerializer,
};
use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Significant digits kept: values are exact to 1 part in 1000 (≤ 0.1 % error).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Per-call latencies in microseconds (3 significant digits, auto-resizing).
/// Created lazily: an entry that never had a timed call costs nothing.
/// Serialized as base64 of HdrHistogram's V2 + deflate encoding, which is exact.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    h: Option<Histogram<u64>>,
}

impl PartialEq for LatencyHistogram {
    fn eq(&self, other: &Self) -> bool {
        match (&self.h, &other.h) {
            (Some(a), Some(b)) => a == b,
            (None, None) => true,
            (Some(a), None) | (None, Some(a)) => a.is_empty(),
        }
    }
}

/// Milliseconds to whole microseconds (negative and NaN become 0).
pub(crate) fn ms_to_us(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1000.0).round() as u64
    } else {
        0
    }
}

fn new_histogram() -> Option<Histogram<u64>> {
    let mut h = Histogram::new(SIGNIFICANT_DIGITS).ok()?;
    h.auto(true);
    Some(h)
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one call of `us` microseconds. Returns false only if the histogram
    /// could not be created (never expected); the caller counts that.
    #[inline]
    pub fn record_us(&mut self, us: u64) -> bool {
        if self.h.is_none() {
            self.h = new_histogram();
        }
        match self.h.as_mut() {
            Some(h) => {
                if h.record(us).is_err() {
                    h.saturating_record(us);
                }
                true
            }
            None => false,
        }
    }

    /// Number of recorded calls.
    pub fn len(&self) -> u64 {
        self.h.as_ref().map_or(0, |h| h.len())
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latency at quantile `q` (0..=1) in milliseconds, `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let h = self.h.as_ref().filter(|h| !h.is_empty())?;
        Some(h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Adds every count of `other` (exact).
    pub fn add(&mut self, other: &LatencyHistogram) {
        let Some(o) = other.h.as_ref().filter(|o| !o.is_empty()) else {
            return;
        };
        match self.h.as_mut() {
            None => {
                let mut c = o.clone();
                c.auto(true);
                self.h = Some(c);
            }
            Some(h) => {
                h.auto(true);
                if h.add(o).is_err() {
                    // Cannot happen with auto-resize; fall back to value-by-value.
                    for v in o.iter_recorded() {
                        if h.record_n(v.value_iterated_to(), v.count_at_value())
                            .is_err()
                        {
                            h.saturating_record_n(v.value_iterated_to(), v.count_at_value());
                        }
                    }
                }
            }
        }
    }

    /// Base64 of the V2 + deflate encoding (empty string when empty).
    pub fn to_base64(&self) -> Result<String, String> {
        let Some(h) = self.h.as_ref().filter(|h| !h.is_empty()) else {
            return Ok(String::new());
        };
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut buf)
            .map_err(|e| format!("{e:?}"))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    /// Decodes [`LatencyHistogram::to_base64`].
    pub fn from_base64(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| e.to_string())?;
        let mut h: Histogram<u64> = HdrDeserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("{e:?}"))?;
        h.auto(true);
        Ok(LatencyHistogram { h: Some(h) })
    }
}

impl Serialize for LatencyHistogram {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64().map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        LatencyHistogram::from_base64(&s)
            .map_err(|e| serde::de::Error::custom(format!("histogram: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn percentiles_within_one_percent_of_exact() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut h = LatencyHistogram::new();
        let mut exact = Vec::new();
        for _ in 0..100_000 {
            // Roughly log-uniform between 50 µs and 5 s.
            let u = (xorshift(&mut x) % 1_000_000) as f64 / 1_000_000.0;
            let us = (50.0 * (100_000f64).powf(u)).round() as u64;
            exact.push(us);
            assert!(h.record_us(us));
        }
        exact.sort_unstable();
        for q in [0.5, 0.9, 0.95, 0.99, 0.999] {
            let rank = ((q * exact.len() as f64).ceil() as usize).max(1) - 1;
            let e = exact[rank] as f64 / 1000.0;
            let got = h.quantile_ms(q).unwrap_or(0.0);
            assert!(((got - e) / e).abs() <= 0.01, "q={q} exact={e} got={got}");
        }
        assert_eq!(h.len(), 100_000);
    }

    #[test]
    fn add_is_exact_and_serialization_round_trips() {
        let (mut a, mut b, mut all) = (
            LatencyHistogram::new(),
            LatencyHistogram::new(),
            LatencyHistogram::new(),
        );
        for v in 1..5000u64 {
            let us = v * v % 100_003;
            if v % 3 == 0 {
                a.record_us(us)
            } else {
                b.record_us(us)
            };
            all.record_us(us);
        }
        a.add(&b);
        assert_eq!(a, all);
        let s = a.to_base64().unwrap_or_default();
        let back = LatencyHistogram::from_base64(&s).unwrap_or_default();
        assert_eq!(back, all);
        for q in [0.5, 0.95, 0.99] {
            assert_eq!(back.quantile_ms(q), all.quantile_ms(q));
        }
        assert!(LatencyHistogram::from_base64("!!").is_err());
        assert_eq!(LatencyHistogram::new().quantile_ms(0.5), None);
        assert_eq!(ms_to_us(1.2345), 1235);
        assert_eq!(ms_to_us(f64::NAN), 0);
    }
}
