//! `outpost bridge`: Alertmanager webhooks in, Telegram messages out,
//! durable in between.
//!
//! Flow: clap args → [`Config`] (validated once, token read) → [`run`]
//! with a bound listener and a shutdown future. Inside: the webhook
//! ([`webhook`]) parses ([`payload`]) and commits each notification to the
//! outbox ([`state`], [`outbox`]) before answering and rings the
//! [`doorbell`]; the [`sender`] drains the outbox, rendering ([`message`])
//! with buttons ([`keyboard`]) and charts ([`attach`]); the [`watchdog`]
//! turns a missing heartbeat into a message; [`escalate`] repeats critical
//! alerts nobody acknowledged (these four run on the [`leader`] only). The [`bot`] long-polls
//! Telegram for chat commands and answers them through the
//! transport-independent [`crate::chat::Engine`]. Alerts and replies alike
//! go out through one [`deliver::Courier`]: Telegram's limits ([`pacer`]),
//! the retry policy and the send counters, over the Bot API transport
//! ([`telegram`]). The engine reads the bridge's own state through
//! [`desk`]. What stops the bridge from working is reported to
//! `/-/ready` through [`health`].
//!
//! Without a Telegram token the bridge still runs: webhooks are taken and
//! stored (the outbox keeps them), `/-/ready` is ready, and a warning says
//! once that nothing is delivered until the bridge starts with a token.

pub mod attach;
pub mod bot;
pub mod deliver;
pub mod desk;
pub mod doorbell;
pub mod enrich;
pub mod escalate;
pub mod fanout;
pub mod heal;
pub mod health;
pub mod keyboard;
pub mod leader;
pub mod mention;
pub mod message;
pub mod metrics;
pub mod outbox;
pub mod pacer;
pub mod payload;
pub mod secret;
pub mod sender;
pub mod state;
pub mod telegram;
pub mod watchdog;
pub mod webhook;

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::BridgeArgs;
use deliver::{Backoff, Courier};
use doorbell::Doorbell;
use health::Health;
use message::Layout;
use metrics::Counters;
use pacer::{Limits, Pacer};
use secret::Secret;
use sender::{Sender, Unmarked};
use telegram::Telegram;
use webhook::AppState;

/// The bridge's validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// No token: alerts are stored, nothing is sent and no chat commands
    /// are read until the bridge is started with one.
    pub telegram_token: Option<Secret>,
    pub telegram_api_url: String,
    /// Where `POST /alert` goes.
    pub chat_id: Option<i64>,
    /// Forum topic for `--chat-id`.
    pub message_thread_id: Option<i64>,
    pub webhook_token: Option<Secret>,
    /// Send a firing CPU, memory or disk alert as the photo of its chart,
    /// the alert text as caption (see [`attach`]).
    pub attach_charts: bool,
    /// `--self-healing`: rules mapping alerts to actions (off without).
    pub self_healing: Option<Vec<heal::Rule>>,
    /// The chat command engine's settings (Prometheus, Alertmanager, agents).
    pub chat: crate::chat::Config,
    pub state: state::Location,
    pub state_sync: state::sqlite::Durability,
    /// How long the leader's lease lasts without renewal (`--lease-ttl`).
    pub lease_ttl: Duration,
    pub watchdog_timeout: Duration,
    pub dedup_window: Duration,
    pub max_body: usize,
    /// Connection cap and header deadline of the HTTP server.
    pub server: crate::server::Limits,
    pub limits: Limits,
    pub backoff: Backoff,
    pub send_timeout: Duration,
    /// How much chat audit log is kept.
    pub audit: crate::chat::audit::Retention,
    /// Who is on call, and the escalation (`--oncall`).
    pub oncall: crate::chat::oncall::OnCall,
}

/// A configuration problem (all are usage errors, exit 2, except reading
/// the token file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid --listen {0:?}: expected host:port, e.g. 0.0.0.0:9187")]
    Listen(String),
    #[error("reading {flag} {path}: {source}")]
    TokenFile {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{flag} {path} is empty")]
    EmptyTokenFile { flag: &'static str, path: PathBuf },
    /// The chat flags (time zone, agents file).
    #[error("{message}")]
    Chat { message: String, usage: bool },
    #[error("invalid --telegram-api-url {0:?}: expected http:// or https://")]
    ApiUrl(String),
    #[error("--dedup-window must be shorter than --watchdog-timeout and not zero")]
    DedupWindow,
    #[error("invalid {flag}: {source}")]
    Server {
        flag: &'static str,
        source: crate::server::LimitsError,
    },
}

impl ConfigError {
    pub fn is_usage(&self) -> bool {
        match self {
            ConfigError::TokenFile { .. } => false,
            ConfigError::Chat { usage, .. } => *usage,
            _ => true,
        }
    }
}

/// A secret from its flag, or else from the file its `-file` flag names;
/// `None` when neither is set (or the flag is empty).
fn secret_from(
    value: Option<String>,
    file: Option<PathBuf>,
    flag: &'static str,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(t), _) if !t.trim().is_empty() => Ok(Some(Secret::new(t.trim()))),
        (_, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::TokenFile {
                flag,
                path: path.clone(),
                source,
            })?;
            if text.trim().is_empty() {
                return Err(ConfigError::EmptyTokenFile { flag, path });
            }
            Ok(Some(Secret::new(text.trim())))
        }
        _ => Ok(None),
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    full.parse()
        .ok()
        .or_else(|| full.to_socket_addrs().ok()?.next())
        .ok_or_else(|| ConfigError::Listen(s.to_owned()))
}

impl TryFrom<BridgeArgs> for Config {
    type Error = ConfigError;

    fn try_from(a: BridgeArgs) -> Result<Self, Self::Error> {
        let listen = parse_listen(&a.listen)?;
        let token = secret_from(
            a.telegram_token,
            a.telegram_token_file,
            "--telegram-token-file",
        )?;
        let webhook_token = secret_from(
            a.webhook_token,
            a.webhook_token_file,
            "--webhook-token-file",
        )?;
        let audit = crate::chat::audit_retention(&a.chat);
        let chat = crate::chat::config(&a.chat, crate::chat::roles(&a.roles)).map_err(|e| {
            ConfigError::Chat {
                usage: e.downcast_ref::<crate::UsageError>().is_some(),
                message: format!("{e:#}"),
            }
        })?;
        let oncall = match &a.chat.oncall {
            Some(path) => crate::chat::oncall::read(path).map_err(|e| ConfigError::Chat {
                usage: true,
                message: format!("--oncall: {e}"),
            })?,
            None => crate::chat::oncall::OnCall::default(),
        };
        let api = a.telegram_api_url.trim_end_matches('/').to_owned();
        if !(api.starts_with("http://") || api.starts_with("https://")) {
            return Err(ConfigError::ApiUrl(api));
        }
        if a.dedup_window.is_zero() {
            return Err(ConfigError::DedupWindow);
        }
        let server = crate::server::Limits::new(a.max_connections, a.read_header_timeout).map_err(
            |source| ConfigError::Server {
                flag: match source {
                    crate::server::LimitsError::NoConnections => "--max-connections",
                    crate::server::LimitsError::NoTimeout => "--read-header-timeout",
                },
                source,
            },
        )?;
        Ok(Config {
            listen,
            telegram_token: token,
            telegram_api_url: api,
            chat_id: a.chat_id,
            message_thread_id: a.message_thread_id,
            webhook_token,
            attach_charts: a.attach_charts,
            self_healing: a
                .self_healing
                .as_deref()
                .map(heal::read)
                .transpose()
                .map_err(|e| ConfigError::Chat {
                    message: format!("--self-healing: {e}"),
                    usage: true,
                })?,
            chat,
            state: state::Location::parse(&a.state),
            state_sync: if a.state_sync == "normal" {
                state::sqlite::Durability::Normal
            } else {
                state::sqlite::Durability::Full
            },
            lease_ttl: a.lease_ttl,
            watchdog_timeout: a.watchdog_timeout,
            dedup_window: a.dedup_window,
            max_body: a.webhook_max_body,
            server,
            limits: Limits {
                per_chat: a.per_chat_interval,
                group_per_minute: a.group_per_minute,
                global_per_second: a.global_per_second,
            },
            backoff: Backoff {
                initial: a.retry_initial_backoff,
                max: a.retry_max_backoff.max(a.retry_initial_backoff),
                retry_after_max: a.retry_after_max,
            },
            send_timeout: a.send_timeout,
            audit,
            oncall,
        })
    }
}

/// `d` in milliseconds, saturating (a flag may ask for more than an
/// `i64` of milliseconds; that must not wrap around to a negative span).
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `outpost bridge`: validate flags, bind, serve until SIGINT/SIGTERM.
pub fn main(args: BridgeArgs) -> anyhow::Result<()> {
    let mut config = match Config::try_from(args) {
        Ok(c) => c,
        Err(e) if e.is_usage() => return Err(crate::UsageError(e.to_string()).into()),
        Err(e) => return Err(e.into()),
    };
    // Connections never take the descriptors the store, Telegram and the
    // chat's queries need: 128 are kept for those.
    config.server = crate::server::prepare(config.server, 128).0;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        run(config, listener, crate::shutdown_signal()).await
    })
}

/// Serves the bridge on `listener` until `shutdown` completes: then stops
/// taking webhooks, lets the Telegram message in flight finish and
/// returns, leaving everything still queued in the state. Webhooks, health
/// and metrics are served whatever the role; the outbox, the chat bot and
/// the watchdog run only while this bridge leads ([`leader`]).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = state::open(
        &config.state,
        &state::Options {
            durability: config.state_sync,
            ..state::Options::default()
        },
    )
    .await?;
    let counters = Arc::new(Counters::default());
    let health = Arc::new(Health::default());
    let doorbell = Arc::new(Doorbell::default());
    let (stop_tx, stop_rx) = watch::channel(false);

    let app = Arc::new(AppState {
        state: Arc::clone(&state),
        counters: Arc::clone(&counters),
        doorbell: Arc::clone(&doorbell),
        default_chat: config.chat_id,
        default_thread: config.message_thread_id,
        webhook_token: config.webhook_token.clone(),
        max_body: config.max_body,
        dedup_window: config.dedup_window,
        accepting: AtomicBool::new(true),
        health: Arc::clone(&health),
        healing: Default::default(),
    });
    let started_ms = now_ms();
    let mut telegram = None;
    let mut engine_for_prune = None;
    match &config.telegram_token {
        Some(token) => {
            let api = Telegram::new(&config.telegram_api_url, token.clone(), config.send_timeout)?;
            let courier = Arc::new(Courier {
                transport: api.clone(),
                state: Arc::clone(&state),
                pacer: Mutex::new(Pacer::new(config.limits)),
                backoff: config.backoff,
                counters: Arc::clone(&counters),
                health: Arc::clone(&health),
            });
            let engine = Arc::new(
                crate::chat::Engine::new(
                    config.chat.clone(),
                    state::StateAudit {
                        state: Arc::clone(&state),
                        retention: config.audit,
                    },
                )
                .count_refusals_in(Arc::clone(&counters.chat_refused))
                .with_desk(Arc::new(desk::StateDesk {
                    state: Arc::clone(&state),
                    running: Some((Arc::clone(&counters), started_ms)),
                    oncall: config.oncall.clone(),
                    courier: Some(Arc::clone(&courier)),
                    timezone: config.chat.timezone.clone(),
                })),
            );
            engine_for_prune = Some(Arc::clone(&engine));
            if let Some(rules) = &config.self_healing {
                let _ = app.healing.set(Arc::new(heal::Healing {
                    healer: heal::Healer::new(rules.clone()),
                    engine: Arc::clone(&engine),
                    state: Arc::clone(&state),
                    doorbell: Arc::clone(&doorbell),
                }));
            }
            telegram = Some(TelegramSide {
                api,
                courier,
                engine,
            });
        }
        None => tracing::warn!(
            "no Telegram token (--telegram-token, --telegram-token-file or OUTPOST_TELEGRAM_TOKEN): \
             alerts are stored in the outbox but not delivered, and chat commands are not read, \
             until the bridge is started with a token; `outpost ask` answers commands meanwhile"
        ),
    }
    let (role_tx, role_rx) = watch::channel(None);
    let (release_tx, release_rx) = watch::channel(false);
    let leader_task = tokio::spawn(leader::run(
        Arc::clone(&state),
        leader::holder_name(),
        config.lease_ttl,
        role_tx,
        Arc::clone(&counters.standing),
        release_rx,
    ));
    let terms_task = tokio::spawn(terms(
        Arc::new(Term {
            state: Arc::clone(&state),
            telegram,
            doorbell: Arc::clone(&doorbell),
            attach_charts: config.attach_charts,
            enrich: config.chat.actions_key.is_some(),
            watchdog_timeout: config.watchdog_timeout,
            oncall: config.oncall.clone(),
            timezone: config.chat.timezone.clone(),
            started_ms,
        }),
        role_rx,
        stop_rx.clone(),
    ));
    let prune_task = tokio::spawn(prune(
        Arc::clone(&state),
        engine_for_prune,
        config.dedup_window,
        stop_rx.clone(),
    ));
    {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            shutdown.await;
            app.accepting.store(false, Ordering::SeqCst);
            let _ = stop_tx.send(true);
        });
    }
    tracing::info!(
        address = %listener.local_addr()?,
        telegram_api = %secret::redact_userinfo(&config.telegram_api_url),
        telegram = config.telegram_token.is_some(),
        chat_id = ?config.chat_id,
        state = %config.state,
        shared = state.shared(),
        watchdog_timeout = ?config.watchdog_timeout,
        "bridge listening"
    );
    let mut stopped = stop_rx.clone();
    crate::server::serve(
        listener,
        webhook::router(Arc::clone(&app)),
        None,
        config.server,
        Arc::clone(&counters.connections),
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .await;
    // The term's message in flight finishes before the lease is given up,
    // so the next leader does not send it again.
    let _ = terms_task.await;
    let _ = release_tx.send(true);
    let _ = leader_task.await;
    let _ = prune_task.await;
    match state.stats().await {
        Ok(s) => tracing::info!(
            queued = s.queued,
            "bridge stopped; queued notifications kept for the next start"
        ),
        Err(e) => tracing::warn!(error = %e, "bridge stopped"),
    }
    Ok(())
}

/// The Telegram side, when there is a token.
struct TelegramSide {
    api: Telegram,
    courier: Arc<Courier<Telegram>>,
    engine: Arc<crate::chat::Engine>,
}

/// What a leader's term runs.
struct Term {
    state: Arc<dyn state::State>,
    telegram: Option<TelegramSide>,
    doorbell: Arc<Doorbell>,
    attach_charts: bool,
    /// Enrich alert messages from the agents' actions (an actions key is set).
    enrich: bool,
    watchdog_timeout: Duration,
    /// Who is on call and the escalation (`--oncall`).
    oncall: crate::chat::oncall::OnCall,
    /// The zone of quiet hours (`--timezone`).
    timezone: jiff::tz::TimeZone,
    started_ms: i64,
}

/// While the bridge leads, the sender, the chat bot (with a token), the
/// watchdog and the escalation run with the term's epoch; when it stops leading (or
/// shuts down) they stop, letting the message in flight finish.
async fn terms(
    term: Arc<Term>,
    mut role: watch::Receiver<leader::Role>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let epoch = tokio::select! {
            r = role.wait_for(|r| r.is_some()) => match r {
                Ok(r) => r.unwrap_or_default(),
                Err(_) => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let (end_tx, end_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        if let Some(t) = &term.telegram {
            let sender = Arc::new(Sender {
                state: Arc::clone(&term.state),
                epoch,
                courier: Arc::clone(&t.courier),
                doorbell: Arc::clone(&term.doorbell),
                layout: Layout::default(),
                charts: term
                    .attach_charts
                    .then(|| attach::charts(Arc::clone(&t.engine))),
                enrich: term
                    .enrich
                    .then(|| enrich::enrich(Arc::clone(&t.engine), enrich::DEADLINE)),
                mentions: Some(Arc::new(mention::Mentioner {
                    oncall: term.oncall.clone(),
                    timezone: term.timezone.clone(),
                })),
                unmarked: Unmarked::default(),
                rescan: if term.state.shared() {
                    sender::SHARED_RESCAN
                } else {
                    sender::RESCAN
                },
            });
            tasks.push(tokio::spawn(sender.run(end_rx.clone())));
            let bot = Arc::new(bot::Bot {
                telegram: t.api.clone(),
                courier: Arc::clone(&t.courier),
                engine: Arc::clone(&t.engine),
                poll_timeout: bot::POLL_TIMEOUT,
                epoch,
            });
            tasks.push(tokio::spawn(bot.run(end_rx.clone())));
        }
        tasks.push(tokio::spawn(watchdog::run(
            Arc::clone(&term.state),
            term.watchdog_timeout,
            term.started_ms,
            Arc::clone(&term.doorbell),
            end_rx.clone(),
        )));
        // Escalation reads and advances the on-call levels: one bridge of
        // a pair, so each alert escalates once.
        tasks.push(tokio::spawn(escalate::run(
            Arc::clone(&term.state),
            term.oncall.clone(),
            Arc::clone(&term.doorbell),
            end_rx,
        )));
        tokio::select! {
            _ = role.wait_for(|r| *r != Some(epoch)) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
        let _ = end_tx.send(true);
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// Every 10 minutes: the store's old rows and, with a token, the chat
/// audit log past its age limit.
async fn prune(
    state: Arc<dyn state::State>,
    engine: Option<Arc<crate::chat::Engine>>,
    window: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    let window_ms = millis(window);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = state.prune(now_ms(), window_ms).await {
            tracing::warn!(error = %e, "pruning the state database");
        }
        // After the firing message ids: keyboards go with them.
        if let Err(e) = state.prune_oncall(now_ms()).await {
            tracing::warn!(error = %e, "pruning the on-call records");
        }
        if let Err(e) = state.prune_audience(now_ms()).await {
            tracing::warn!(error = %e, "pruning expired mutes");
        }
        if let Some(engine) = &engine {
            if let Err(e) = engine.prune_audit(now_ms()).await {
                tracing::warn!(error = %e, "pruning the chat audit log");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config, ConfigError> {
        let cli = crate::cli::Cli::try_parse_from(
            ["outpost", "bridge"].iter().chain(args.iter()).copied(),
        )
        .unwrap();
        let crate::cli::Command::Bridge(a) = cli.command else {
            panic!("not the bridge")
        };
        Config::try_from(a)
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = parse(&["--telegram-token", "1:abc", "--chat-id", "-1001"]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9187".parse().unwrap());
        assert_eq!(c.telegram_api_url, "https://api.telegram.org");
        assert_eq!(
            c.state,
            state::Location::Sqlite(PathBuf::from("./data/outpost.db"))
        );
        assert_eq!(c.chat_id, Some(-1001));
        assert!(!format!("{c:?}").contains("1:abc"));
        // The flags' defaults are the policy types' own.
        assert_eq!(
            c.backoff.retry_after_max,
            Backoff::default().retry_after_max
        );
        assert_eq!(c.backoff.initial, Backoff::default().initial);
        assert_eq!(c.backoff.max, Backoff::default().max);
        assert_eq!(c.audit, crate::chat::audit::Retention::default());
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(millis(Duration::MAX), i64::MAX, "saturates, never wraps");
    }

    #[test]
    fn token_comes_from_a_file_and_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tok");
        std::fs::write(&f, "2:xyz\n").unwrap();
        let c = parse(&["--telegram-token-file", f.to_str().unwrap()]).unwrap();
        assert_eq!(c.telegram_token.unwrap().expose(), "2:xyz");
        // No token is fine: the bridge stores alerts and waits for one.
        assert!(parse(&[]).unwrap().telegram_token.is_none());
        let w = dir.path().join("hook");
        std::fs::write(&w, "s3cret\n").unwrap();
        let c = parse(&["--webhook-token-file", w.to_str().unwrap()]).unwrap();
        assert_eq!(c.webhook_token.unwrap().expose(), "s3cret");
        assert!(matches!(
            parse(&["--timezone", "Mars/Olympus"]),
            Err(ConfigError::Chat { usage: true, .. })
        ));
        let missing = parse(&["--telegram-token-file", "/nonexistent/tok"]).unwrap_err();
        assert!(!missing.is_usage());
        assert!(matches!(
            parse(&["--telegram-token", "1:a", "--telegram-api-url", "ftp://x"]),
            Err(ConfigError::ApiUrl(_))
        ));
        assert!(matches!(
            parse(&["--telegram-token", "1:a", "--listen", "nowhere"]),
            Err(ConfigError::Listen(_))
        ));
    }
}
