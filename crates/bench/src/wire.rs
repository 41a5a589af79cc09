//! A lean, blocking client for PostgreSQL's extended query protocol, used by the
//! benchmark clients: one OS thread per connection, a plain TCP or Unix socket
//! (Nagle off), statements parsed once by name, and per execution one write
//! (Bind + Execute + Sync) and usually one read until ReadyForQuery.
//!
//! Messages are built and (off the hot path) parsed with `postgres-protocol`;
//! the per-statement responses are framed by hand so that executing a statement
//! whose rows nobody keeps allocates nothing.

use std::error::Error as StdError;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use pgpilot_db::{ConnSpec, DbError};
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{ErrorFields, Message};
use postgres_protocol::message::frontend::{self, BindError};
use postgres_types::{ToSql, Type};
use tokio_postgres::config::{ChannelBinding, Config, Host, SslMode};

use crate::param::ParamValue;

/// Initial size of the read buffer; it grows for larger messages.
const READ_BUF: usize = 16 * 1024;

/// The socket of one connection.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP, with `TCP_NODELAY`.
    Tcp(TcpStream),
    /// A Unix-domain socket.
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a statement did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExecError {
    /// The server rejected it; the connection is ready for the next statement.
    Server {
        /// The SQLSTATE.
        sqlstate: String,
        /// The server's message.
        message: String,
    },
    /// A parameter could not be encoded; nothing was sent.
    Encode(String),
    /// The connection is gone (EOF, I/O error, a fatal error or a protocol error).
    Lost(String),
}

/// What the server said about a statement when it was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    /// Type OIDs of the parameters.
    pub params: Vec<u32>,
    /// Names and type OIDs of the result columns.
    pub columns: Vec<(String, u32)>,
}

/// A statement prepared on one connection.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    /// Its server-side name.
    pub name: String,
    /// The type of each parameter (what values are encoded as).
    pub params: Vec<Type>,
    /// The type of each result column (for `row:` values).
    pub columns: Vec<Type>,
}

/// Where the rows of an execution go: the kept columns' indices, in slot order,
/// and the list to append one value vector per row to.
pub(crate) type Keep<'a> = (&'a [usize], &'a mut Vec<Vec<ParamValue>>);

/// A failure during startup or authentication, before it is classified.
#[derive(Debug)]
enum StartError {
    Io(io::Error),
    Server { sqlstate: String, message: String },
    Auth(String),
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Io(e)
    }
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: Stream,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: BytesMut,
    /// Scratch: the byte range of each cell of the current row (`None`: NULL).
    cells: Vec<Option<Range<usize>>>,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut last = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        last = e.to_string();
        cur = e.source();
    }
    last
}

/// SQLSTATE, message and severity of an ErrorResponse.
fn error_fields(mut fields: ErrorFields<'_>) -> io::Result<(String, String, String)> {
    let (mut code, mut message, mut severity) = (String::new(), String::new(), String::new());
    while let Some(f) = fields.next()? {
        let v = String::from_utf8_lossy(f.value_bytes()).into_owned();
        match f.type_() {
            b'C' => code = v,
            b'M' => message = v,
            b'V' => severity = v,
            b'S' if severity.is_empty() => severity = v,
            _ => {}
        }
    }
    Ok((code, message, severity))
}

/// True for SQLSTATEs that mean the session is over (admin shutdown, crash,
/// connection exceptions), like [`DbError::is_connection_lost`].
fn ends_session(sqlstate: &str) -> bool {
    sqlstate.starts_with("57P") || sqlstate.starts_with("08")
}

fn server_text(sqlstate: &str, message: &str) -> String {
    format!("{message} (SQLSTATE {sqlstate})")
}

/// Opens the socket to the first host that accepts, like libpq.
fn open(config: &Config) -> io::Result<Stream> {
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let ports = config.get_ports();
    let timeout = config.get_connect_timeout().copied();
    let n = hosts.len().max(addrs.len());
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no host given");
    let tcp = |addr: SocketAddr, timeout: Option<Duration>| -> io::Result<Stream> {
        let s = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t)?,
            None => TcpStream::connect(addr)?,
        };
        s.set_nodelay(true)?;
        Ok(Stream::Tcp(s))
    };
    for i in 0..n.max(1) {
        let port = ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(5432);
        let attempt = match (addrs.get(i), hosts.get(i)) {
            (Some(ip), _) => tcp(SocketAddr::new(*ip, port), timeout),
            (None, Some(Host::Unix(dir))) => {
                UnixStream::connect(dir.join(format!(".s.PGSQL.{port}"))).map(Stream::Unix)
            }
            (None, Some(Host::Tcp(h))) => {
                let mut r = Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{h} has no address"),
                ));
                match (h.as_str(), port).to_socket_addrs() {
                    Ok(resolved) => {
                        for addr in resolved {
                            r = tcp(addr, timeout);
                            if r.is_ok() {
                                break;
                            }
                        }
                    }
                    Err(e) => r = Err(e),
                }
                r
            }
            (None, None) => tcp(SocketAddr::from(([127, 0, 0, 1], port)), timeout),
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Opens a connection with `spec`'s settings: startup, authentication (trust,
/// cleartext, md5, SCRAM-SHA-256), and the wait for ReadyForQuery.
pub(crate) fn connect(spec: &ConnSpec) -> Result<Conn, DbError> {
    let config = spec.config();
    let target = spec.target();
    let no_tls = |what: &str| {
        DbError::InvalidSpec {
        spec: spec.redacted_url(),
        reason: format!(
            "{what} is not supported by the benchmark clients yet (pgpilot connects without TLS); use sslmode=prefer or disable, or an SSH tunnel"
        ),
    }
    };
    match config.get_ssl_mode() {
        SslMode::Disable | SslMode::Prefer => {}
        _ => return Err(no_tls("TLS (sslmode=require)")),
    }
    if config.get_channel_binding() == ChannelBinding::Require {
        return Err(no_tls("channel_binding=require"));
    }
    let stream = open(config).map_err(|e| DbError::Unreachable {
        target: target.clone(),
        reason: e.to_string(),
    })?;
    // connect_timeout also bounds the startup exchange, like libpq.
    let timeout = config.get_connect_timeout().copied();
    let unreachable = |e: io::Error| DbError::Unreachable {
        target: target.clone(),
        reason: e.to_string(),
    };
    stream.set_read_timeout(timeout).map_err(unreachable)?;
    let mut conn = Conn::new(stream);
    let user = spec.user().to_string();
    let started = conn.startup(config, &user);
    conn.stream.set_read_timeout(None).map_err(unreachable)?;
    started.map_err(|e| match e {
        StartError::Io(e) => DbError::Unreachable {
            target: target.clone(),
            reason: e.to_string(),
        },
        StartError::Server { sqlstate, .. } if sqlstate == "28P01" || sqlstate == "28000" => {
            DbError::AuthFailed {
                user: user.clone(),
                target: target.clone(),
            }
        }
        StartError::Server { sqlstate, .. } if sqlstate == "3D000" => DbError::DatabaseMissing {
            database: spec.dbname().to_string(),
            target: target.clone(),
        },
        StartError::Server { sqlstate, message } => DbError::Query {
            context: format!("connecting to {target}"),
            message,
            sqlstate: Some(sqlstate),
        },
        StartError::Auth(m) if m.contains("password missing") => DbError::AuthFailed {
            user: user.clone(),
            target: target.clone(),
        },
        StartError::Auth(message) => DbError::Query {
            context: format!("connecting to {target}"),
            message,
            sqlstate: None,
        },
    })?;
    Ok(conn)
}

impl Conn {
    /// Wraps an open socket (no startup yet).
    pub(crate) fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            rbuf: vec![0; READ_BUF],
            rstart: 0,
            rend: 0,
            wbuf: BytesMut::with_capacity(1024),
            cells: Vec::new(),
        }
    }

    /// Writes the pending messages in one go.
    fn send(&mut self) -> io::Result<()> {
        let r = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        r
    }

    /// Makes room in the read buffer for `need` bytes counted from `rstart`.
    fn make_room(&mut self, need: usize) {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        if self.rbuf.len() - self.rstart < need {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rbuf.len() < need {
            let size = need.max(self.rbuf.len() * 2);
            self.rbuf.resize(size, 0);
        }
    }

    /// The next backend message: its tag and the range of its body in `rbuf`
    /// (valid until the next call).
    #[inline]
    fn next_frame(&mut self) -> io::Result<(u8, Range<usize>)> {
        loop {
            let avail = self.rend - self.rstart;
            let need = if avail >= 5 {
                let h = &self.rbuf[self.rstart..self.rstart + 5];
                let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
                if len < 4 {
                    return Err(invalid("invalid message length from the server"));
                }
                let total = 1 + len;
                if avail >= total {
                    let tag = h[0];
                    let body = self.rstart + 5..self.rstart + total;
                    self.rstart += total;
                    return Ok((tag, body));
                }
                total
            } else {
                5
            };
            self.make_room(need);
            let n = self.stream.read(&mut self.rbuf[self.rend..])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection unexpectedly",
                ));
            }
            self.rend += n;
        }
    }

    /// The next message, parsed by `postgres-protocol` (off the hot path).
    fn read_message(&mut self) -> io::Result<Message> {
        let (tag, body) = self.next_frame()?;
        self.parse_frame(tag, body)
    }

    /// Parses a framed message with `postgres-protocol`.
    fn parse_frame(&self, tag: u8, body: Range<usize>) -> io::Result<Message> {
        let body = &self.rbuf[body];
        let mut b = BytesMut::with_capacity(body.len() + 5);
        b.put_u8(tag);
        b.put_u32(body.len() as u32 + 4);
        b.extend_from_slice(body);
        Message::parse(&mut b)?.ok_or_else(|| invalid("truncated message from the server"))
    }

    fn startup(&mut self, config: &Config, user: &str) -> Result<(), StartError> {
        let mut params = vec![("client_encoding", "UTF8"), ("user", user)];
        if let Some(db) = config.get_dbname() {
            params.push(("database", db));
        }
        if let Some(o) = config.get_options() {
            params.push(("options", o));
        }
        params.push((
            "application_name",
            config.get_application_name().unwrap_or("pgpilot"),
        ));
        frontend::startup_message(params, &mut self.wbuf)?;
        self.send()?;
        self.authenticate(config.get_password(), user)?;
        loop {
            match self.read_message()? {
                Message::ReadyForQuery(_) => return Ok(()),
                Message::ErrorResponse(body) => {
                    let (sqlstate, message, _) = error_fields(body.fields())?;
                    return Err(StartError::Server { sqlstate, message });
                }
                Message::BackendKeyData(_)
                | Message::ParameterStatus(_)
                | Message::NoticeResponse(_) => {}
                _ => return Err(invalid("unexpected message during startup").into()),
            }
        }
    }

    fn authenticate(&mut self, password: Option<&[u8]>, user: &str) -> Result<(), StartError> {
        let password = || password.ok_or_else(|| StartError::Auth("password missing".into()));
        match self.read_message()? {
            Message::AuthenticationOk => return Ok(()),
            Message::AuthenticationCleartextPassword => {
                frontend::password_message(password()?, &mut self.wbuf)?;
                self.send()?;
            }
            Message::AuthenticationMd5Password(body) => {
                let hash = md5_hash(user.as_bytes(), password()?, body.salt());
                frontend::password_message(hash.as_bytes(), &mut self.wbuf)?;
                self.send()?;
            }
            Message::AuthenticationSasl(body) => {
                let mut mechanisms = body.mechanisms();
                let mut scram = false;
                while let Some(m) = mechanisms.next()? {
                    scram |= m == sasl::SCRAM_SHA_256;
                }
                if !scram {
                    return Err(StartError::Auth(
                        "the server offers no SASL mechanism pgpilot supports (SCRAM-SHA-256 without TLS)".into(),
                    ));
                }
                let mut scram =
                    sasl::ScramSha256::new(password()?, sasl::ChannelBinding::unsupported());
                frontend::sasl_initial_response(sasl::SCRAM_SHA_256, scram.message(), &mut self.wbuf)?;
                self.send()?;
                match self.read_message()? {
                    Message::AuthenticationSaslContinue(body) => scram.update(body.data())?,
                    Message::ErrorResponse(body) => return Err(self.server_error(&body)?),
                    _ => return Err(invalid("unexpected message during SCRAM").into()),
                }
                frontend::sasl_response(scram.message(), &mut self.wbuf)?;
                self.send()?;
                match self.read_message()? {
                    Message::AuthenticationSaslFinal(body) => scram.finish(body.data())?,
                    Message::ErrorResponse(body) => return Err(self.server_error(&body)?),
                    _ => return Err(invalid("unexpected message during SCRAM").into()),
                }
            }
            Message::ErrorResponse(body) => return Err(self.server_error(&body)?),
            _ => {
                return Err(StartError::Auth(
                    "the server asks for an authentication method pgpilot does not support (Kerberos, GSS, SSPI)".into(),
                ))
            }
        }
        match self.read_message()? {
            Message::AuthenticationOk => Ok(()),
            Message::ErrorResponse(body) => Err(self.server_error(&body)?),
            _ => Err(invalid("unexpected message during authentication").into()),
        }
    }

    fn server_error(
        &self,
        body: &postgres_protocol::message::backend::ErrorResponseBody,
    ) -> io::Result<StartError> {
        let (sqlstate, message, _) = error_fields(body.fields())?;
        Ok(StartError::Server { sqlstate, message })
    }

    /// Parses `sql` as the named statement `name` (parameter types left to the
    /// server) and describes it.
    pub(crate) fn prepare(&mut self, name: &str, sql: &str) -> Result<Described, ExecError> {
        let lost = |e: io::Error| ExecError::Lost(e.to_string());
        self.wbuf.clear();
        frontend::parse(name, sql, std::iter::empty(), &mut self.wbuf)
            .and_then(|()| frontend::describe(b'S', name, &mut self.wbuf))
            .map_err(|e| ExecError::Encode(e.to_string()))?;
        frontend::sync(&mut self.wbuf);
        self.send().map_err(lost)?;
        let mut out = Described {
            params: Vec::new(),
            columns: Vec::new(),
        };
        let mut error = None;
        loop {
            match self.read_message().map_err(lost)? {
                Message::ParameterDescription(body) => {
                    out.params = body.parameters().collect().map_err(lost)?;
                }
                Message::RowDescription(body) => {
                    out.columns = body
                        .fields()
                        .map(|f| Ok((f.name().to_string(), f.type_oid())))
                        .collect()
                        .map_err(lost)?;
                }
                Message::ErrorResponse(body) => {
                    let (sqlstate, message, _) = error_fields(body.fields()).map_err(lost)?;
                    error = Some(ExecError::Server { sqlstate, message });
                }
                Message::ReadyForQuery(_) => break,
                Message::ParseComplete
                | Message::NoData
                | Message::NoticeResponse(_)
                | Message::ParameterStatus(_)
                | Message::NotificationResponse(_) => {}
                _ => return Err(ExecError::Lost("unexpected message from the server".into())),
            }
        }
        match error {
            Some(ExecError::Server { sqlstate, message }) if ends_session(&sqlstate) => {
                Err(ExecError::Lost(server_text(&sqlstate, &message)))
            }
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Writes Bind (binary parameters; binary result columns only when rows are
    /// kept, else text) + Execute + Sync for `stmt` into the write buffer.
    #[inline]
    pub(crate) fn encode_execution(
        buf: &mut BytesMut,
        stmt: &Statement,
        params: &[ParamValue],
        binary_results: bool,
    ) -> Result<(), ExecError> {
        let param_formats: &[i16] = if params.is_empty() { &[] } else { &[1] };
        let result_formats: &[i16] = if binary_results { &[1] } else { &[] };
        let bound = frontend::bind(
            "",
            &stmt.name,
            param_formats.iter().copied(),
            params.iter().zip(&stmt.params),
            |(v, ty), buf| match v.to_sql_checked(ty, buf)? {
                postgres_types::IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
                postgres_types::IsNull::No => Ok(postgres_protocol::IsNull::No),
            },
            result_formats.iter().copied(),
            buf,
        );
        match bound {
            Ok(()) => {}
            Err(BindError::Conversion(e)) => {
                buf.clear();
                return Err(ExecError::Encode(root_cause(&*e)));
            }
            Err(BindError::Serialization(e)) => {
                buf.clear();
                return Err(ExecError::Encode(e.to_string()));
            }
        }
        if let Err(e) = frontend::execute("", 0, buf) {
            buf.clear();
            return Err(ExecError::Encode(e.to_string()));
        }
        frontend::sync(buf);
        Ok(())
    }

    /// Runs `stmt` once and returns the number of rows; with `keep`, appends the
    /// kept columns of every row (raw binary values) to its list.
    #[inline]
    pub(crate) fn execute(
        &mut self,
        stmt: &Statement,
        params: &[ParamValue],
        keep: Option<Keep<'_>>,
    ) -> Result<u64, ExecError> {
        self.wbuf.clear();
        Self::encode_execution(&mut self.wbuf, stmt, params, keep.is_some())?;
        if let Err(e) = self.send() {
            return Err(ExecError::Lost(e.to_string()));
        }
        self.read_result(stmt, keep)
    }

    /// Reads one execution's response up to ReadyForQuery.
    #[inline]
    fn read_result(
        &mut self,
        stmt: &Statement,
        mut keep: Option<Keep<'_>>,
    ) -> Result<u64, ExecError> {
        let mut rows = 0u64;
        let mut error: Option<(String, String)> = None;
        loop {
            let (tag, body) = match self.next_frame() {
                Ok(f) => f,
                Err(e) => {
                    return Err(ExecError::Lost(match error {
                        Some((code, message)) => server_text(&code, &message),
                        None => e.to_string(),
                    }))
                }
            };
            match tag {
                b'D' => {
                    rows += 1;
                    if let Some((cols, kept)) = keep.as_mut() {
                        let row = self.decode_row(body, stmt, cols).map_err(|e| {
                            ExecError::Lost(format!("malformed row from the server: {e}"))
                        })?;
                        kept.push(row);
                    }
                }
                b'Z' => break,
                // BindComplete, CommandComplete, EmptyQueryResponse, PortalSuspended,
                // NoticeResponse, ParameterStatus, NotificationResponse.
                b'2' | b'C' | b'I' | b's' | b'N' | b'S' | b'A' => {}
                b'E' => {
                    let parsed = match self.parse_frame(tag, body) {
                        Ok(Message::ErrorResponse(b)) => error_fields(b.fields()),
                        Ok(_) => Err(invalid("unexpected message")),
                        Err(e) => Err(e),
                    };
                    let (code, message, _) = parsed.map_err(|e| ExecError::Lost(e.to_string()))?;
                    error = Some((code, message));
                }
                other => {
                    return Err(ExecError::Lost(format!(
                        "unexpected message {:?} from the server",
                        other as char
                    )))
                }
            }
        }
        match error {
            None => Ok(rows),
            Some((sqlstate, message)) if ends_session(&sqlstate) => {
                Err(ExecError::Lost(server_text(&sqlstate, &message)))
            }
            Some((sqlstate, message)) => Err(ExecError::Server { sqlstate, message }),
        }
    }

    /// The kept cells of one DataRow body.
    fn decode_row(
        &mut self,
        body: Range<usize>,
        stmt: &Statement,
        cols: &[usize],
    ) -> io::Result<Vec<ParamValue>> {
        let b = &self.rbuf[body.clone()];
        let short = || invalid("truncated DataRow");
        let n = u16::from_be_bytes(
            b.get(0..2)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?,
        ) as usize;
        self.cells.clear();
        let mut at = 2usize;
        for _ in 0..n {
            let len = i32::from_be_bytes(
                b.get(at..at + 4)
                    .ok_or_else(short)?
                    .try_into()
                    .map_err(|_| short())?,
            );
            at += 4;
            if len < 0 {
                self.cells.push(None);
            } else {
                let end = at + len as usize;
                if end > b.len() {
                    return Err(short());
                }
                self.cells.push(Some(at..end));
                at = end;
            }
        }
        Ok(cols
            .iter()
            .map(|&c| match (self.cells.get(c), stmt.columns.get(c)) {
                (Some(Some(r)), Some(ty)) => ParamValue::Raw {
                    ty: ty.clone(),
                    bytes: b[r.clone()].to_vec(),
                },
                _ => ParamValue::Null,
            })
            .collect())
    }

    /// Says goodbye (best effort) and closes the socket.
    pub(crate) fn terminate(mut self) {
        self.wbuf.clear();
        frontend::terminate(&mut self.wbuf);
        let _ = self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// A backend message: tag, length, body.
    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn data_row(cells: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = (cells.len() as u16).to_be_bytes().to_vec();
        for c in cells {
            match c {
                Some(v) => {
                    b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    b.extend_from_slice(v);
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        msg(b'D', &b)
    }

    fn error_response(severity: &str, code: &str, message: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for (t, v) in [
            (b'S', severity),
            (b'V', severity),
            (b'C', code),
            (b'M', message),
        ] {
            b.push(t);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        msg(b'E', &b)
    }

    fn ready() -> Vec<u8> {
        msg(b'Z', b"I")
    }

    fn ok_response(rows: &[Vec<u8>]) -> Vec<u8> {
        let mut r = msg(b'2', b"");
        for row in rows {
            r.extend_from_slice(row);
        }
        r.extend(msg(b'C', b"SELECT 1\0"));
        r.extend(ready());
        r
    }

    /// Reads one tagged frontend message.
    fn read_frontend(s: &mut UnixStream) -> (u8, Vec<u8>) {
        let mut h = [0u8; 5];
        s.read_exact(&mut h).expect("header");
        let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
        let mut body = vec![0; len - 4];
        s.read_exact(&mut body).expect("body");
        (h[0], body)
    }

    /// Reads the frontend messages of one execution (up to Sync).
    fn read_until_sync(s: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let m = read_frontend(s);
            let done = m.0 == b'S';
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// A connection whose other end is a scripted fake server.
    fn fake(server: impl FnOnce(UnixStream) + Send + 'static) -> (Conn, thread::JoinHandle<()>) {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let h = thread::spawn(move || server(b));
        (Conn::new(Stream::Unix(a)), h)
    }

    fn stmt(params: Vec<Type>, columns: Vec<Type>) -> Statement {
        Statement {
            name: "pgpilot_0".into(),
            params,
            columns,
        }
    }

    fn cstr(b: &[u8]) -> (&[u8], &[u8]) {
        let end = b.iter().position(|&c| c == 0).expect("nul");
        (&b[..end], &b[end + 1..])
    }

    #[test]
    fn bind_execute_and_sync_go_out_in_one_buffer() {
        let st = stmt(vec![Type::INT4, Type::TEXT, Type::INT8], vec![]);
        let mut buf = BytesMut::new();
        let params = [
            ParamValue::Int(42),
            ParamValue::Text("x".into()),
            ParamValue::Null,
        ];
        Conn::encode_execution(&mut buf, &st, &params, false).expect("encodes");
        let mut rest = &buf[..];
        let mut frames = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            frames.push((rest[0], rest[5..1 + len].to_vec()));
            rest = &rest[1 + len..];
        }
        assert_eq!(
            frames.iter().map(|f| f.0).collect::<Vec<_>>(),
            b"BES".to_vec()
        );
        let (portal, b) = cstr(&frames[0].1);
        assert_eq!(portal, b"");
        let (name, b) = cstr(b);
        assert_eq!(name, b"pgpilot_0");
        // One format code (binary) for all parameters, three values, no result
        // format codes (text).
        let mut want = vec![0, 1, 0, 1, 0, 3];
        want.extend_from_slice(&4i32.to_be_bytes());
        want.extend_from_slice(&42i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.push(b'x');
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&[0, 0]);
        assert_eq!(b, &want[..]);
        assert_eq!(
            frames[1].1,
            b"\0\0\0\0\0".to_vec(),
            "unnamed portal, all rows"
        );
        assert!(frames[2].1.is_empty());

        // Kept rows are asked for in binary; no parameters, no format codes.
        let st = stmt(vec![], vec![]);
        buf.clear();
        Conn::encode_execution(&mut buf, &st, &[], true).expect("encodes");
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        let body = &buf[5..1 + len];
        assert!(body.ends_with(&[0, 0, 0, 0, 0, 1, 0, 1]), "{body:?}");
    }

    #[test]
    fn a_value_that_cannot_be_encoded_sends_nothing() {
        let st = stmt(vec![Type::INT4], vec![]);
        let mut buf = BytesMut::new();
        let e = Conn::encode_execution(&mut buf, &st, &[ParamValue::Text("x".into())], false)
            .expect_err("not an integer");
        assert_eq!(e, ExecError::Encode("\"x\" is not an integer".into()));
        assert!(buf.is_empty());
    }

    #[test]
    fn rows_are_counted_errors_captured_and_the_connection_goes_on() {
        let (mut conn, h) = fake(|mut s| {
            let m = read_until_sync(&mut s);
            assert_eq!(m.iter().map(|m| m.0).collect::<Vec<_>>(), b"BES".to_vec());
            // Dribble the response out a few bytes at a time.
            let resp = ok_response(&[
                data_row(&[Some(b"1")]),
                data_row(&[Some(b"2")]),
                data_row(&[None]),
            ]);
            for chunk in resp.chunks(3) {
                s.write_all(chunk).expect("write");
                thread::sleep(Duration::from_micros(200));
            }
            read_until_sync(&mut s);
            let mut r = msg(b'N', b"SWARNING\0C01000\0Mcareful\0\0");
            r.extend(error_response("ERROR", "22012", "division by zero"));
            r.extend(ready());
            s.write_all(&r).expect("write");
            read_until_sync(&mut s);
            s.write_all(&ok_response(&[])).expect("write");
        });
        let st = stmt(vec![Type::INT4], vec![Type::TEXT]);
        let p = [ParamValue::Int(1)];
        assert_eq!(conn.execute(&st, &p, None), Ok(3));
        assert_eq!(
            conn.execute(&st, &p, None),
            Err(ExecError::Server {
                sqlstate: "22012".into(),
                message: "division by zero".into()
            })
        );
        assert_eq!(conn.execute(&st, &p, None), Ok(0));
        h.join().expect("server");
    }

    #[test]
    fn kept_columns_are_raw_binary_values_and_big_rows_fit() {
        let big = vec![b'z'; 100_000];
        let big2 = big.clone();
        let (mut conn, h) = fake(move |mut s| {
            read_until_sync(&mut s);
            let resp = ok_response(&[
                data_row(&[Some(&7i32.to_be_bytes()), None, Some(b"abc")]),
                data_row(&[None, None, Some(&big2)]),
            ]);
            s.write_all(&resp).expect("write");
        });
        let st = stmt(vec![], vec![Type::INT4, Type::INT4, Type::TEXT]);
        let mut kept = Vec::new();
        let n = conn
            .execute(&st, &[], Some((&[2, 0], &mut kept)))
            .expect("runs");
        assert_eq!(n, 2);
        assert_eq!(
            kept[0],
            vec![
                ParamValue::Raw {
                    ty: Type::TEXT,
                    bytes: b"abc".to_vec()
                },
                ParamValue::Raw {
                    ty: Type::INT4,
                    bytes: vec![0, 0, 0, 7]
                },
            ]
        );
        assert_eq!(
            kept[1],
            vec![
                ParamValue::Raw {
                    ty: Type::TEXT,
                    bytes: big
                },
                ParamValue::Null
            ]
        );
        h.join().expect("server");
    }

    #[test]
    fn eof_and_fatal_errors_mean_the_connection_is_lost() {
        let (mut conn, h) = fake(|mut s| {
            read_until_sync(&mut s);
            let mut r = msg(b'2', b"");
            r.extend(error_response(
                "FATAL",
                "57P01",
                "terminating connection due to administrator command",
            ));
            s.write_all(&r).expect("write");
        });
        let st = stmt(vec![], vec![]);
        let e = conn.execute(&st, &[], None).expect_err("lost");
        let ExecError::Lost(reason) = e else {
            panic!("{e:?}")
        };
        assert!(
            reason.contains("administrator command") && reason.contains("57P01"),
            "{reason}"
        );
        h.join().expect("server");

        let (mut conn, h) = fake(|mut s| {
            read_until_sync(&mut s);
            s.write_all(&msg(b'2', b"")).expect("write");
        });
        let e = conn.execute(&st, &[], None).expect_err("lost");
        assert!(
            matches!(&e, ExecError::Lost(r) if r.contains("closed the connection")),
            "{e:?}"
        );
        h.join().expect("server");
    }

    #[test]
    fn prepare_learns_parameter_and_column_types() {
        let (mut conn, h) = fake(|mut s| {
            let m = read_until_sync(&mut s);
            assert_eq!(m.iter().map(|m| m.0).collect::<Vec<_>>(), b"PDS".to_vec());
            let (name, rest) = cstr(&m[0].1);
            assert_eq!(name, b"s1");
            let (sql, rest) = cstr(rest);
            assert_eq!(sql, b"SELECT abalance FROM a WHERE aid = $1");
            assert_eq!(rest, &[0, 0], "no parameter types given");
            assert_eq!(m[1].1, b"Ss1\0".to_vec());
            let mut r = msg(b'1', b"");
            let mut pd = 1u16.to_be_bytes().to_vec();
            pd.extend_from_slice(&23u32.to_be_bytes());
            r.extend(msg(b't', &pd));
            let mut rd = 1u16.to_be_bytes().to_vec();
            rd.extend_from_slice(b"abalance\0");
            rd.extend_from_slice(&0u32.to_be_bytes());
            rd.extend_from_slice(&0i16.to_be_bytes());
            rd.extend_from_slice(&23u32.to_be_bytes());
            rd.extend_from_slice(&4i16.to_be_bytes());
            rd.extend_from_slice(&(-1i32).to_be_bytes());
            rd.extend_from_slice(&0i16.to_be_bytes());
            r.extend(msg(b'T', &rd));
            r.extend(ready());
            s.write_all(&r).expect("write");
            read_until_sync(&mut s);
            let mut r = error_response("ERROR", "42P01", "relation \"nope\" does not exist");
            r.extend(ready());
            s.write_all(&r).expect("write");
        });
        let d = conn
            .prepare("s1", "SELECT abalance FROM a WHERE aid = $1")
            .expect("prepares");
        assert_eq!(
            d,
            Described {
                params: vec![23],
                columns: vec![("abalance".into(), 23)]
            }
        );
        assert_eq!(
            conn.prepare("s2", "SELECT * FROM nope"),
            Err(ExecError::Server {
                sqlstate: "42P01".into(),
                message: "relation \"nope\" does not exist".into()
            })
        );
        h.join().expect("server");
    }

    /// Reads the untagged startup message and returns its parameters.
    fn read_startup(s: &mut UnixStream) -> Vec<(String, String)> {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).expect("len");
        let mut body = vec![0; u32::from_be_bytes(len) as usize - 4];
        s.read_exact(&mut body).expect("body");
        assert_eq!(&body[..4], &196_608u32.to_be_bytes(), "protocol 3.0");
        let mut parts = body[4..]
            .split(|&b| b == 0)
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
            if k.is_empty() {
                break;
            }
            out.push((k, v));
        }
        out
    }

    fn after_auth() -> Vec<u8> {
        let mut r = msg(b'R', &0i32.to_be_bytes());
        r.extend(msg(b'S', b"server_version\x0015.0\0"));
        r.extend(msg(b'K', &[0, 0, 0, 42, 0, 0, 0, 7]));
        r.extend(ready());
        r
    }

    fn config() -> Config {
        let mut c = Config::new();
        c.user("alice")
            .password("s3cret")
            .dbname("app")
            .application_name("bench-test")
            .options("-c work_mem=8MB");
        c
    }

    #[test]
    fn startup_sends_the_settings_and_answers_md5() {
        let (mut conn, h) = fake(|mut s| {
            let params = read_startup(&mut s);
            let get = |k: &str| params.iter().find(|p| p.0 == k).map(|p| p.1.clone());
            assert_eq!(get("user").as_deref(), Some("alice"));
            assert_eq!(get("database").as_deref(), Some("app"));
            assert_eq!(get("application_name").as_deref(), Some("bench-test"));
            assert_eq!(get("options").as_deref(), Some("-c work_mem=8MB"));
            let mut b = 5i32.to_be_bytes().to_vec();
            b.extend_from_slice(&[1, 2, 3, 4]);
            s.write_all(&msg(b'R', &b)).expect("write");
            let (tag, body) = read_frontend(&mut s);
            assert_eq!(tag, b'p');
            let want = md5_hash(b"alice", b"s3cret", [1, 2, 3, 4]);
            assert_eq!(cstr(&body).0, want.as_bytes());
            s.write_all(&after_auth()).expect("write");
        });
        conn.startup(&config(), "alice").expect("starts");
        h.join().expect("server");
    }

    #[test]
    fn cleartext_passwords_and_rejections() {
        let (mut conn, h) = fake(|mut s| {
            read_startup(&mut s);
            s.write_all(&msg(b'R', &3i32.to_be_bytes())).expect("write");
            let (tag, body) = read_frontend(&mut s);
            assert_eq!((tag, cstr(&body).0), (b'p', &b"s3cret"[..]));
            s.write_all(&error_response(
                "FATAL",
                "28P01",
                "password authentication failed for user \"alice\"",
            ))
            .expect("write");
        });
        let e = conn.startup(&config(), "alice").expect_err("rejected");
        assert!(
            matches!(&e, StartError::Server { sqlstate, .. } if sqlstate == "28P01"),
            "{e:?}"
        );
        h.join().expect("server");

        // No password to give.
        let (mut conn, h) = fake(|mut s| {
            read_startup(&mut s);
            s.write_all(&msg(b'R', &3i32.to_be_bytes())).expect("write");
        });
        let mut c = Config::new();
        c.user("bob");
        let e = conn.startup(&c, "bob").expect_err("no password");
        assert!(
            matches!(&e, StartError::Auth(m) if m.contains("password missing")),
            "{e:?}"
        );
        h.join().expect("server");
    }

    #[test]
    fn scram_starts_with_a_client_first_message() {
        // The full exchange is covered by postgres-protocol's recorded-vector test
        // and by the integration test against a real server; here: the framing.
        let (mut conn, h) = fake(|mut s| {
            read_startup(&mut s);
            let mut b = 10i32.to_be_bytes().to_vec();
            b.extend_from_slice(b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
            s.write_all(&msg(b'R', &b)).expect("write");
            let (tag, body) = read_frontend(&mut s);
            assert_eq!(tag, b'p');
            let (mechanism, rest) = cstr(&body);
            assert_eq!(mechanism, b"SCRAM-SHA-256");
            let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let first = std::str::from_utf8(&rest[4..4 + len]).expect("utf8");
            assert!(first.starts_with("n,,n=,r="), "{first}");
            s.write_all(&error_response(
                "FATAL",
                "28P01",
                "password authentication failed",
            ))
            .expect("write");
        });
        let e = conn.startup(&config(), "alice").expect_err("rejected");
        assert!(
            matches!(&e, StartError::Server { sqlstate, .. } if sqlstate == "28P01"),
            "{e:?}"
        );
        h.join().expect("server");
    }
}
