//! Cases of the archive's later changes ([`crate::storage::MucStore::archived`],
//! [`StoreOp::Tombstone`]) and the service secrets ([`crate::storage::MucStore::secret`]).

use super::muc::{msg, save};
use super::opener::Opener;
use crate::muc::config_form::RoomConfig;
use crate::muc::mam::query::parse_query;
use crate::storage::{ArchiveKey, StoreOp};

pub async fn archived_finds_by_stanza_id_and_by_client_id(open: impl Opener) {
    let s = open.open(10).await;
    let mut a = msg("r", 10, "a@localhost");
    a.client_id = Some("same".into());
    let mut b = msg("r", 20, "b@localhost");
    b.client_id = Some("same".into());
    let mut elsewhere = msg("other", 30, "a@localhost");
    elsewhere.client_id = Some("only-there".into());
    let ops = vec![
        save("r", RoomConfig::default()),
        save("other", RoomConfig::default()),
        StoreOp::Archive(a.clone()),
        StoreOp::Archive(b.clone()),
        StoreOp::Archive(elsewhere),
    ];
    s.muc.commit(ops).await.unwrap();
    let by_id = s.muc.archived("r", &ArchiveKey::Id(20)).await.unwrap();
    assert_eq!(by_id, Some(b.clone()));
    assert_eq!(
        s.muc.archived("r", &ArchiveKey::Id(30)).await.unwrap(),
        None
    );
    let client = |id: &str, sender: &str| ArchiveKey::Client {
        id: id.into(),
        sender: sender.into(),
    };
    // Two senders used one id: each finds its own, a third the newest.
    let own = s.muc.archived("r", &client("same", "a@localhost")).await;
    assert_eq!(own.unwrap(), Some(a));
    let own = s.muc.archived("r", &client("same", "b@localhost")).await;
    assert_eq!(own.unwrap(), Some(b.clone()));
    let other = s.muc.archived("r", &client("same", "c@localhost")).await;
    assert_eq!(other.unwrap(), Some(b));
    let missing = s
        .muc
        .archived("r", &client("only-there", "a@localhost"))
        .await;
    assert_eq!(missing.unwrap(), None);
}

pub async fn a_tombstone_replaces_the_message_in_place(open: impl Opener) {
    let s = open.open(10).await;
    let ops = vec![
        save("r", RoomConfig::default()),
        StoreOp::Archive(msg("r", 10, "a@localhost")),
        StoreOp::Archive(msg("r", 20, "a@localhost")),
    ];
    s.muc.commit(ops).await.unwrap();
    let tomb = "<message xmlns='jabber:client' type='groupchat'><retracted/></message>";
    let ops = vec![StoreOp::Tombstone {
        room: "r".into(),
        id: 10,
        stanza: tomb.into(),
    }];
    s.muc.commit(ops).await.unwrap();
    let el: minidom::Element = "<query xmlns='urn:xmpp:mam:2'/>".parse().unwrap();
    let q = parse_query(&el, "r@conference.localhost", 50).unwrap();
    let page = s.muc.archive_page("r", &q).await.unwrap().unwrap();
    let got: Vec<(i64, &str)> = page
        .items
        .iter()
        .map(|i| (i.id, i.stanza.as_str()))
        .collect();
    assert_eq!(got[0], (10, tomb));
    assert!(got[1].1.contains("<body>20</body>"));
    assert_eq!(page.count, Some(2));
    let kept = s
        .muc
        .archived("r", &ArchiveKey::Id(10))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (kept.sender.as_str(), kept.stanza.as_str()),
        ("a@localhost", tomb)
    );
}

pub async fn the_first_secret_stored_wins(open: impl Opener) {
    let s = open.open(10).await;
    let first = s.muc.secret("occupant-id", vec![1; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    assert_eq!(
        s.muc.secret("occupant-id", vec![2; 32]).await.unwrap(),
        first
    );
    assert_eq!(s.muc.secret("other", vec![3; 8]).await.unwrap(), vec![3; 8]);
    let racers = (4..8u8).map(|b| {
        let muc = s.muc.clone();
        tokio::spawn(async move { muc.secret("occupant-id", vec![b; 32]).await.unwrap() })
    });
    for r in racers {
        assert_eq!(r.await.unwrap(), first);
    }
}
