//! The `mucsub-server` command line: `run`, `user add|remove|passwd|list`,
//! `user fast list|revoke` (XEP-0484 tokens per device),
//! `room create|destroy|list|options|subscribe|unsubscribe|subscribers|affiliation` (through
//! the running server's HTTP API: `api/cli.rs`), and `token mint` (a sign-in token, as an
//! app's backend would make one).

use clap::{Parser, Subcommand, ValueEnum};
use mucsub_server::config::Config;
use mucsub_server::server::{open_storage, Server};
use mucsub_server::storage::Credentials;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "mucsub-server",
    version,
    about = "XMPP server with MUC, MucSub and MAM"
)]
struct Cli {
    /// Log lines on stderr: `text` (coloured only on a terminal, and not with NO_COLOR set)
    /// or `json` (one object per line). The level comes from RUST_LOG (default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// TOML configuration file (defaults apply when absent).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (overrides the config file).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server until SIGTERM or SIGINT.
    Run {
        #[command(flatten)]
        common: Common,
    },
    /// Manages accounts.
    User {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Administers the rooms of the running server, through its HTTP API (`[api]`).
    Room {
        #[command(flatten)]
        common: Common,
        /// The server's HTTP address (default: the config's `[listeners] http`).
        #[arg(long, global = true)]
        url: Option<String>,
        /// An `[api]` token (default: MUCSUB_API_TOKEN, else the config's first token that
        /// may run the command; none with `open_on_loopback`).
        #[arg(long, global = true, env = "MUCSUB_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[command(subcommand)]
        action: mucsub_server::api::cli::RoomAction,
    },
    /// Sign-in tokens (`[auth.jwt]`).
    Token {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Prints a token for an account, signed as `[auth.jwt]` expects (what an app's backend
    /// does; for trying token sign-in and for the demo).
    Mint {
        /// The account: a user name or a bare JID.
        user: String,
        /// Seconds the token is valid for.
        #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
        ttl: i64,
        /// PEM private key, for ES256 and RS256 (HS256 uses the configured secret).
        #[arg(long)]
        private_key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Creates an account (password from --password or the first line of stdin).
    Add {
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Deletes an account and its offline messages.
    Remove { name: String },
    /// Changes a password (and revokes the account's FAST tokens).
    Passwd {
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Lists accounts.
    List,
    /// FAST sign-in tokens (XEP-0484), one per device.
    Fast {
        #[command(subcommand)]
        action: FastAction,
    },
}

#[derive(Subcommand)]
enum FastAction {
    /// Lists the account's devices that hold a token.
    List { name: String },
    /// Revokes one device's tokens (its `<user-agent id>`), or every device's.
    Revoke {
        name: String,
        device: Option<String>,
    },
}

fn load_config(common: &Common) -> anyhow::Result<Config> {
    let mut config = match &common.config {
        Some(p) => Config::load(p)?,
        None => {
            let mut c = Config::default();
            c.normalize()?;
            c
        }
    };
    if let Some(d) = &common.data_dir {
        config.data_dir = d.clone();
    }
    Ok(config)
}

fn read_password(given: Option<String>) -> anyhow::Result<String> {
    let pw = match given {
        Some(p) => p,
        None => {
            eprint!("password: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if pw.is_empty() {
        anyhow::bail!("the password must not be empty");
    }
    Ok(pw)
}

fn user_name(name: &str) -> anyhow::Result<String> {
    mucsub_server::auth::normalize_user(name)
        .ok_or_else(|| anyhow::anyhow!("'{name}' is not a valid user name"))
}

async fn user_command(common: Common, action: UserAction) -> anyhow::Result<()> {
    let config = load_config(&common)?;
    let storage = open_storage(&config).await?;
    let accounts = storage.accounts.clone();
    match action {
        UserAction::Add { name, password } => {
            let name = user_name(&name)?;
            let creds = Credentials::derive(&read_password(password)?)?;
            if !accounts.create(&name, creds).await? {
                anyhow::bail!("account {name} already exists");
            }
            println!("created {name}@{}", config.domain);
        }
        UserAction::Remove { name } => {
            let name = user_name(&name)?;
            if !accounts.remove(&name).await? {
                anyhow::bail!("no account {name}");
            }
            println!("removed {name}@{}", config.domain);
        }
        UserAction::Passwd { name, password } => {
            let name = user_name(&name)?;
            let creds = Credentials::derive(&read_password(password)?)?;
            // A new password signs every device out: their FAST tokens stop working.
            let Some(revoked) = storage.change_credentials(&name, creds).await? else {
                anyhow::bail!("no account {name}");
            };
            println!(
                "password changed for {name}@{} ({revoked} FAST token(s) revoked)",
                config.domain
            );
        }
        UserAction::List => {
            for u in accounts.list().await? {
                println!("{u}@{}", config.domain);
            }
        }
        UserAction::Fast { action } => fast_command(&config, &*storage.fast, action).await?,
    }
    Ok(())
}

async fn fast_command(
    config: &Config,
    fast: &dyn mucsub_server::storage::FastStore,
    action: FastAction,
) -> anyhow::Result<()> {
    match action {
        FastAction::List { name } => {
            let name = user_name(&name)?;
            for t in fast.list(&name).await? {
                let slot = match t.slot {
                    mucsub_server::storage::Slot::Current => "current",
                    mucsub_server::storage::Slot::New => "new",
                };
                let used = t
                    .last_used_ms
                    .map(mucsub_server::time::xep82)
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{}\t{slot}\t{}\texpires {}\tlast used {used}\t{}",
                    t.device,
                    t.mechanism,
                    mucsub_server::time::xep82(t.expires_ms),
                    t.software.unwrap_or_default()
                );
            }
        }
        FastAction::Revoke { name, device } => {
            let name = user_name(&name)?;
            let n = fast.revoke(&name, device.as_deref()).await?;
            match device {
                Some(d) => println!(
                    "revoked {n} token(s) of {name}@{} on device {d}",
                    config.domain
                ),
                None => println!("revoked {n} token(s) of {name}@{}", config.domain),
            }
        }
    }
    Ok(())
}

/// `token mint`: the signing key from the config (HS256) or `--private-key`.
fn token_command(common: Common, action: TokenAction) -> anyhow::Result<()> {
    use mucsub_server::auth::jwt;
    use mucsub_server::auth::settings::Algorithm;
    let config = load_config(&common)?;
    let TokenAction::Mint {
        user,
        ttl,
        private_key,
    } = action;
    let c = &config.auth.jwt;
    let key_bytes = match (c.algorithm, &private_key) {
        (_, Some(p)) => std::fs::read(p)
            .map_err(|e| anyhow::anyhow!("--private-key {}: {e}", p.display()))?,
        (Algorithm::HS256, None) => match (&c.secret, &c.secret_file) {
            (Some(s), _) => s.expose().as_bytes().to_vec(),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("[auth.jwt] secret_file {}: {e}", f.display()))?
                .trim_end_matches(['\r', '\n'])
                .as_bytes()
                .to_vec(),
            (None, None) => anyhow::bail!(
                "no HS256 secret in [auth.jwt] (secret or secret_file); pass --private-key for a key file"
            ),
        },
        (alg, None) => anyhow::bail!("{alg:?} tokens are signed with a private key: pass --private-key"),
    };
    let jid = if user.contains('@') {
        user
    } else {
        format!("{}@{}", user_name(&user)?, config.domain)
    };
    let key = jwt::signing_key(c.algorithm, &key_bytes)?;
    println!("{}", jwt::mint(c.algorithm, &key, &c.jid_field, &jid, ttl)?);
    Ok(())
}

async fn room_command(
    common: Common,
    url: Option<String>,
    token: Option<String>,
    action: mucsub_server::api::cli::RoomAction,
) -> anyhow::Result<()> {
    use mucsub_server::api::cli;
    let config = load_config(&common)?;
    let target = cli::Target::new(&config, url, token, cli::commands(&action))?;
    print!("{}", cli::run(&config, &target, &action).await?);
    Ok(())
}

/// Installs the SIGTERM and Ctrl-C handlers now and returns the wait for either. Installed
/// before the server starts: a SIGTERM that came after "mucsub-server started" was logged
/// but before the handler existed killed the process with the default action (a non-zero
/// exit instead of a graceful shutdown; ops_startup saw it now and then).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run(common: Common) -> anyhow::Result<()> {
    let config = load_config(&common)?;
    let signal = shutdown_signal();
    let handle = Server::start(config).await?;
    // Tests and scripts read these two lines to find the ports.
    println!("xmpp c2s listening on {}", handle.c2s_addr);
    println!("http listening on http://{}/", handle.http_addr);
    println!("WebSocket endpoint: ws://{}/ws", handle.http_addr);
    std::io::stdout().flush()?;
    signal.await;
    handle.shutdown().await;
    Ok(())
}

/// Logs on stderr: ANSI colours only on a terminal (never in files or journald), or JSON.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = || tokio::runtime::Runtime::new();
    match cli.command {
        Command::Run { common } => runtime()?.block_on(run(common)),
        Command::User { common, action } => runtime()?.block_on(user_command(common, action)),
        Command::Room {
            common,
            url,
            token,
            action,
        } => runtime()?.block_on(room_command(common, url, token, action)),
        Command::Token { common, action } => token_command(common, action),
    }
}
