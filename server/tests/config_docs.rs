//! The configuration a newcomer reads: `docs/configuration.md` lists every key the server
//! reads — the core's `Config` and every module's own table — and nothing it does not;
//! `server/mucsub.example.toml` parses and starts a server.

use mucsub_server::builtin::config_defaults as all_defaults;
use mucsub_server::config::Config;
use mucsub_server::testkit::TestServer;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// Every `(table, key)` of the defaults: objects are tables (`auth.jwt` nested), anything
/// else a key.
fn keys(table: &str, v: &serde_json::Value, out: &mut BTreeSet<(String, String)>) {
    let Some(obj) = v.as_object() else { return };
    if obj.is_empty() && !table.is_empty() {
        // A module table no module describes (a raw `toml::Table` in `Config`).
        out.insert((
            table.to_owned(),
            "<no module describes this table>".to_owned(),
        ));
    }
    for (k, v) in obj {
        if v.is_object() {
            let sub = if table.is_empty() {
                k.clone()
            } else {
                format!("{table}.{k}")
            };
            keys(&sub, v, out);
        } else {
            out.insert((table.to_owned(), k.clone()));
        }
    }
}

/// The `(table, key)` rows of the doc: headings name the table (`` `[limits]` ``, or
/// "Top level"), rows start with `` | `key` ``.
fn documented(md: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut table: Option<String> = None;
    for line in md.lines() {
        if line.starts_with('#') {
            table = if line.contains("Top level") {
                Some(String::new())
            } else {
                line.split("`[")
                    .nth(1)
                    .and_then(|r| r.split("]`").next())
                    .map(str::to_owned)
            };
            continue;
        }
        let (Some(t), Some(rest)) = (&table, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some(key) = rest.split('`').next() {
            out.insert((t.clone(), key.to_owned()));
        }
    }
    out
}

#[test]
fn every_config_key_is_documented_and_every_documented_key_exists() {
    let mut expected = BTreeSet::new();
    keys("", &all_defaults(), &mut expected);
    let md = std::fs::read_to_string(repo("docs/configuration.md")).expect("docs/configuration.md");
    let listed = documented(&md);
    let missing: Vec<String> = expected
        .difference(&listed)
        .map(|(t, k)| format!("[{t}] {k}"))
        .collect();
    let stale: Vec<String> = listed
        .difference(&expected)
        .map(|(t, k)| format!("[{t}] {k}"))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md (a table per heading `[name]`, a row per key \
         `| \\`key\\` | default | meaning |`): {missing:#?}"
    );
    assert!(
        stale.is_empty(),
        "docs/configuration.md lists keys the server does not read: {stale:#?}"
    );
}

#[test]
fn the_check_sees_nested_and_module_tables() {
    let mut k = BTreeSet::new();
    keys("", &all_defaults(), &mut k);
    for (t, key) in [
        ("", "domain"),
        ("listeners", "c2s"),
        ("auth.jwt", "jid_field"),
        ("muc", "history_size"),
        ("push", "urgency"),
        ("metrics", "token"),
    ] {
        assert!(k.contains(&(t.to_owned(), key.to_owned())), "[{t}] {key}");
    }
}

#[tokio::test]
async fn the_example_config_parses_and_a_server_starts_with_it() {
    let path = repo("server/mucsub.example.toml");
    let mut c = Config::load(&path).expect("the example parses");
    // Every module table in it is read by its module at startup, as a real start does.
    let s = TestServer::start_with(move |cfg| {
        c.data_dir = cfg.data_dir.clone();
        c.listeners = cfg.listeners.clone();
        c.http.static_dir = cfg.http.static_dir.clone();
        *cfg = c;
    })
    .await;
    let h = mucsub_server::testkit::http_get(s.http_addr(), "/health", &[]).await;
    assert_eq!(h.status, 200);
}
