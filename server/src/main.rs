//! The `mucsub-server` command line: `run`, and `user add|remove|passwd|list`.

use clap::{Parser, Subcommand};
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
    #[command(subcommand)]
    command: Command,
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
    /// Changes a password.
    Passwd {
        name: String,
        #[arg(long)]
        password: Option<String>,
    },
    /// Lists accounts.
    List,
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
    let accounts = open_storage(&config).await?.accounts;
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
            if !accounts.set_credentials(&name, creds).await? {
                anyhow::bail!("no account {name}");
            }
            println!("password changed for {name}@{}", config.domain);
        }
        UserAction::List => {
            for u in accounts.list().await? {
                println!("{u}@{}", config.domain);
            }
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(common: Common) -> anyhow::Result<()> {
    let config = load_config(&common)?;
    let handle = Server::start(config).await?;
    // Tests and scripts read these two lines to find the ports.
    println!("xmpp c2s listening on {}", handle.c2s_addr);
    println!("http listening on http://{}/", handle.http_addr);
    println!("WebSocket endpoint: ws://{}/ws", handle.http_addr);
    std::io::stdout().flush()?;
    wait_for_signal().await;
    handle.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        match cli.command {
            Command::Run { common } => run(common).await,
            Command::User { common, action } => user_command(common, action).await,
        }
    })
}
