//! The advisor's what-if planner on the caller's own connection: a [`Proxy`]
//! [`WhatIf`] on the blocking pool forwards each question over a channel to the
//! async task that owns the borrowed client, which answers it with HypoPG in a
//! [`Session`]. See [`super`] for the budget and what is left behind (nothing).

use std::time::Instant;

use pgpilot_advisor::advise::{advise, Advice, AdviseOptions};
use pgpilot_advisor::{AdvisorQuery, Catalog, Config, IndexDef, PlanEstimate, WhatIf, WhatIfError};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;

use super::{BUDGET, LOCK_TIMEOUT, MAX_PLANS, STATEMENT_TIMEOUT};
use crate::whatif::{HypoSession, WhatIfOptions};

/// A question of the advisor, with where to send the answer.
enum Request {
    Plan {
        sql: String,
        params: Vec<Option<String>>,
        hypothetical: Vec<IndexDef>,
        hiding: bool,
        reply: oneshot::Sender<Result<PlanEstimate, WhatIfError>>,
    },
    Size {
        index: IndexDef,
        reply: oneshot::Sender<Result<u64, WhatIfError>>,
    },
    Validate {
        index: IndexDef,
        reply: oneshot::Sender<Result<(), WhatIfError>>,
    },
}

/// The advisor's planner on the blocking pool: forwards every question to the
/// async task that owns the connection.
struct Proxy {
    tx: mpsc::Sender<Request>,
    plans: u64,
}

impl Proxy {
    fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, WhatIfError>>) -> Request,
    ) -> Result<T, WhatIfError> {
        let gone = || WhatIfError::Fatal("the explain session stopped answering".into());
        let (reply, answer) = oneshot::channel();
        self.tx.blocking_send(make(reply)).map_err(|_| gone())?;
        answer.blocking_recv().map_err(|_| gone())?
    }
}

impl WhatIf for Proxy {
    fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: Config<'_>,
    ) -> Result<PlanEstimate, WhatIfError> {
        self.plans += 1;
        self.ask(|reply| Request::Plan {
            sql: sql.to_string(),
            params: params.to_vec(),
            hypothetical: config.hypothetical.to_vec(),
            hiding: !config.hidden.is_empty(),
            reply,
        })
    }

    fn index_size(&mut self, index: &IndexDef) -> Result<u64, WhatIfError> {
        self.ask(|reply| Request::Size {
            index: index.clone(),
            reply,
        })
    }

    fn validate(&mut self, index: &IndexDef) -> Result<(), WhatIfError> {
        self.ask(|reply| Request::Validate {
            index: index.clone(),
            reply,
        })
    }

    fn plans_made(&self) -> u64 {
        self.plans
    }
}

/// Runs the advisor on `query` and answers its questions with `client`; the
/// session is left as found (no hypothetical index, settings restored).
pub(super) async fn run(
    client: &Client,
    schema: String,
    query: AdvisorQuery,
    catalog: Catalog,
) -> Result<Advice, String> {
    let mut session = Session::open(client, schema).await?;
    let (tx, mut rx) = mpsc::channel::<Request>(1);
    let job = tokio::task::spawn_blocking(move || {
        let mut proxy = Proxy { tx, plans: 0 };
        let options = AdviseOptions {
            samples_per_query: 1,
            ..AdviseOptions::default()
        };
        let mut progress = |m: &str| tracing::debug!("index advice: {m}");
        advise(
            std::slice::from_ref(&query),
            &catalog,
            &mut proxy,
            &options,
            &mut progress,
        )
        // The proxy is dropped here: the channel closes and the loop below ends.
    });
    while let Some(request) = rx.recv().await {
        session.answer(request).await;
    }
    let closed = session.close().await;
    let advice = job
        .await
        .map_err(|e| format!("the advisor stopped: {e}"))?
        .map_err(|e| e.to_string())?;
    closed?;
    Ok(advice)
}

/// The what-if state on the caller's connection: a [`HypoSession`] on the
/// borrowed client, the settings to restore and the budget.
struct Session<'c> {
    client: &'c Client,
    hypo: HypoSession<&'c Client>,
    /// Quoted schema of the HypoPG functions.
    schema: String,
    /// Settings to restore: (name, value).
    saved: Vec<(String, String)>,
    writable: bool,
    deadline: Instant,
}

/// Settings the what-if session changes, restored when it ends.
const TOUCHED_SETTINGS: [&str; 3] = ["statement_timeout", "lock_timeout", "plan_cache_mode"];

impl<'c> Session<'c> {
    async fn open(client: &'c Client, schema: String) -> Result<Session<'c>, String> {
        let mut saved = Vec::new();
        for name in TOUCHED_SETTINGS {
            let row = client
                .query_one("SELECT current_setting($1)", &[&name])
                .await
                .map_err(|e| format!("reading {name}: {e}"))?;
            let value: String = row.try_get(0).map_err(|e| format!("reading {name}: {e}"))?;
            saved.push((name.to_string(), value));
        }
        let writable = client
            .query_one("SELECT NOT pg_is_in_recovery()", &[])
            .await
            .and_then(|r| r.try_get::<_, bool>(0))
            .map_err(|e| format!("checking for a standby: {e}"))?;
        let options = WhatIfOptions {
            statement_timeout: STATEMENT_TIMEOUT,
            lock_timeout: LOCK_TIMEOUT,
            create_extension: false,
            ..WhatIfOptions::default()
        };
        let hypo = match HypoSession::setup(client, options).await {
            Ok(h) => h,
            Err(e) => {
                restore(client, &saved).await?;
                return Err(format!("setting up the what-if session: {e}"));
            }
        };
        Ok(Session {
            client,
            hypo,
            schema,
            saved,
            writable,
            deadline: Instant::now() + BUDGET,
        })
    }

    /// Removes every hypothetical index and restores the settings.
    async fn close(mut self) -> Result<(), String> {
        let reset = self.hypo.reset().await;
        let restored = restore(self.client, &self.saved).await;
        reset.map_err(|e| format!("hypopg_reset in {}: {e}", self.schema))?;
        restored
    }

    async fn answer(&mut self, request: Request) {
        let over = self.over_budget();
        match request {
            Request::Plan {
                sql,
                params,
                hypothetical,
                hiding,
                reply,
            } => {
                let r = match over {
                    Some(e) => Err(e),
                    None if hiding => Err(WhatIfError::Query(
                        "existing indexes are not hidden during explain".into(),
                    )),
                    None => {
                        let config = Config {
                            hypothetical: &hypothetical,
                            hidden: &[],
                        };
                        self.hypo.plan(&sql, &params, config).await
                    }
                };
                let _ = reply.send(r);
            }
            Request::Size { index, reply } => {
                let r = match over {
                    Some(e) => Err(e),
                    None => self.hypo.index_size(&index).await,
                };
                let _ = reply.send(r);
            }
            Request::Validate { index, reply } => {
                let r = match over {
                    Some(e) => Err(e),
                    None if !self.writable => Err(WhatIfError::InvalidIndex(
                        "not checked: the server is read-only".into(),
                    )),
                    None => self.hypo.validate(&index).await,
                };
                let _ = reply.send(r);
            }
        }
    }

    fn over_budget(&self) -> Option<WhatIfError> {
        if self.hypo.plans() >= MAX_PLANS {
            return Some(WhatIfError::Fatal(format!(
                "stopped after {MAX_PLANS} what-if plans"
            )));
        }
        (Instant::now() >= self.deadline)
            .then(|| WhatIfError::Fatal(format!("stopped after {} ms", BUDGET.as_millis())))
    }
}

/// Puts the saved settings back.
async fn restore(client: &Client, saved: &[(String, String)]) -> Result<(), String> {
    let mut out = Ok(());
    for (name, value) in saved {
        if let Err(e) = client
            .query_one("SELECT set_config($1, $2, false)", &[name, value])
            .await
        {
            out = Err(format!("restoring {name}: {e}"));
        }
    }
    out
}
