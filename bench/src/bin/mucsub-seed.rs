//! `mucsub-seed`: fills a (stopped) mucsub-server's storage directly through the server's
//! own storage code (the SQLite file in the data directory, or `[cluster] postgres` with
//! `--config`): R rooms with S subscriptions each over A accounts, and
//! optionally one room with N archived messages. Writes in large transactions, so 100,000
//! rooms and 1,000,000 subscriptions take seconds rather than hours of XMPP round trips.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;
use mucsub_server::config::Config;
use mucsub_server::muc::affiliation::Affiliation;
use mucsub_server::muc::config_form::RoomConfig;
use mucsub_server::muc::ids::now_micros;
use mucsub_server::muc::store::{ArchivedMsg, StoreOp, StoredSubscription};
use mucsub_server::server::open_storage;
use mucsub_server::storage::{Credentials, MucStore};

#[derive(Parser)]
#[command(
    name = "mucsub-seed",
    about = "Seed a mucsub-server database for the benchmarks"
)]
struct Cli {
    /// The server's data directory (the server must not be running).
    #[arg(long)]
    data_dir: PathBuf,
    /// The server's config file: its `[cluster] postgres` is where the data goes.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = "localhost")]
    domain: String,
    #[arg(long, default_value_t = 100_000)]
    rooms: usize,
    #[arg(long, default_value_t = 10)]
    subs_per_room: usize,
    /// Accounts `seeduser0..` (password `pw`); subscriptions are spread evenly over them.
    #[arg(long, default_value_t = 10_000)]
    accounts: usize,
    /// Also create this room (local part) holding --archive-messages archived messages.
    #[arg(long)]
    archive_room: Option<String>,
    #[arg(long, default_value_t = 1_000_000)]
    archive_messages: usize,
    /// Operations per transaction.
    #[arg(long, default_value_t = 50_000)]
    batch: usize,
}

const NODES: &[&str] = &[
    "urn:xmpp:mucsub:nodes:messages",
    "urn:xmpp:mucsub:nodes:subject",
];

async fn flush(store: &dyn MucStore, ops: &mut Vec<StoreOp>) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    store.commit(std::mem::take(ops)).await?;
    Ok(())
}

async fn seed(cli: Cli) -> Result<()> {
    if cli.accounts == 0 && cli.rooms > 0 {
        bail!("--accounts must be at least 1 when seeding rooms");
    }
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.domain = cli.domain.clone();
    config.muc_service = String::new();
    config.normalize()?;
    config.data_dir = cli.data_dir.clone();
    let storage = open_storage(&config).await?;
    let (accounts, db) = (storage.accounts, &*storage.muc);
    let t0 = std::time::Instant::now();

    // One derivation shared by every account: PBKDF2 per account would dominate seeding.
    let creds = Credentials::derive("pw")?;
    for i in 0..cli.accounts {
        accounts
            .create(&format!("seeduser{i}"), creds.clone())
            .await?;
    }
    eprintln!("[seed] {} accounts in {:?}", cli.accounts, t0.elapsed());

    let owner = format!("seedowner@{}", config.domain);
    let mut ops = Vec::with_capacity(cli.batch + 64);
    let mut sub_no = 0usize;
    for r in 0..cli.rooms {
        let name = format!("seedroom{r}");
        ops.push(StoreOp::SaveRoom {
            name: name.clone(),
            config: RoomConfig::default(),
        });
        ops.push(StoreOp::SetAffiliation {
            room: name.clone(),
            jid: owner.clone(),
            affiliation: Affiliation::Owner,
        });
        for k in 0..cli.subs_per_room {
            let user = sub_no % cli.accounts;
            sub_no += 1;
            ops.push(StoreOp::SetSubscription {
                room: name.clone(),
                sub: StoredSubscription {
                    jid: format!("seeduser{user}@{}", config.domain),
                    nick: format!("u{user}n{k}"),
                    nodes: NODES.iter().map(|n| n.to_string()).collect(),
                },
            });
        }
        if ops.len() >= cli.batch {
            flush(db, &mut ops).await?;
        }
    }
    flush(db, &mut ops).await?;
    eprintln!(
        "[seed] {} rooms, {sub_no} subscriptions in {:?}",
        cli.rooms,
        t0.elapsed()
    );

    if let Some(room) = &cli.archive_room {
        let room_jid = format!("{room}@{}", config.muc_service);
        ops.push(StoreOp::SaveRoom {
            name: room.clone(),
            config: RoomConfig::default(),
        });
        ops.push(StoreOp::SetAffiliation {
            room: room.clone(),
            jid: owner.clone(),
            affiliation: Affiliation::Owner,
        });
        // Ids are archive microseconds (see muc::ids): end just before now so the server's
        // id generator, seeded with the largest stored id, keeps them ordered.
        let n = cli.archive_messages as i64;
        let first = now_micros() - n * 1000;
        for i in 0..n {
            let id = first + i * 1000;
            let nick = format!("poster{}", i % 7);
            let stanza = format!(
                "<message xmlns='jabber:client' from='{room_jid}/{nick}' type='groupchat' id='s{i}'><stanza-id xmlns='urn:xmpp:sid:0' by='{room_jid}' id='{id}'/><body>seeded message {i}</body></message>"
            );
            ops.push(StoreOp::Archive(ArchivedMsg {
                id,
                room: room.clone(),
                stamp_us: id,
                nick,
                origin_id: None,
                sender: format!(
                    "seeduser{}@{}",
                    i % cli.accounts.max(1) as i64,
                    config.domain
                ),
                stanza,
            }));
            if ops.len() >= cli.batch {
                flush(db, &mut ops).await?;
            }
        }
        flush(db, &mut ops).await?;
        eprintln!(
            "[seed] {n} archived messages in {room_jid}, total {:?}",
            t0.elapsed()
        );
    }
    println!(
        "seeded {} rooms, {sub_no} subscriptions, {} accounts in {:.1}s",
        cli.rooms,
        cli.accounts,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(seed(cli))
}
