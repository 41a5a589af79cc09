//! `pgpilot-sql` owns what pgpilot knows about the text of a SQL statement: its
//! fingerprint and normalized form (computed by PostgreSQL's own parser through
//! `pg_query`), a fast literal-stripping [`scan()`] and a caching [`Normalizer`] that
//! runs the full parser once per distinct statement shape so it can sit on the hot
//! path of a log reader, and a structural [`QueryShape`] (tables, predicates per
//! column, join keys, ORDER BY, GROUP BY, LIMIT, …) for lints and index advice.
//! It is pure: no I/O, no database.

pub mod ddl;
mod error;
mod fingerprint;
mod normalizer;
mod rewrite;
pub mod scan;
mod shape;
mod tree;

pub use ddl::{parse_ddl, DdlKind, DdlStatement, IndexKeySpec, IndexStatement, KeyTarget, SqlExpr};
pub use error::SqlError;
pub use fingerprint::{fingerprint, normalize, Fingerprint};
pub use normalizer::{Analysis, CacheStats, FingerprintMap, IdentityHasher, Normalizer};
pub use scan::{scan, scan_into, Literal, LiteralKind, Scan};
pub use shape::{
    BlockOrigin, BlockShape, ColumnRef, Distinct, JoinKey, LimitValue, NullsOrder, Operand,
    OrderItem, Predicate, PredicateKind, QueryShape, SelectItem, StatementKind, TableRef,
    TableSource, Target,
};
