//! Ctrl-C handling: the first press asks the running command to stop and report
//! what it has; a second press stops owned clusters and exits at once.

use tokio::sync::watch;

/// A shared "stop now" flag that commands can poll or await.
#[derive(Clone)]
pub struct Interrupt {
    rx: watch::Receiver<bool>,
}

impl Interrupt {
    /// Installs the Ctrl-C (SIGINT) and SIGTERM handlers on the current runtime.
    pub fn install() -> Self {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let first = async {
                match term.as_mut() {
                    Some(t) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = t.recv() => {}
                        }
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            first.await;
            let _ = tx.send(true);
            eprintln!("\ninterrupted: finishing up (press Ctrl-C again to quit at once)");
            let _ = tokio::signal::ctrl_c().await;
            pgpilot_cluster::stop_all();
            std::process::exit(i32::from(crate::EXIT_INTERRUPTED));
        });
        Interrupt { rx }
    }

    /// Resolves when Ctrl-C is pressed.
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v).await;
    }
}
