//! Issue 22, XEP-0490 through the SDK's native client and the bundled server: two devices
//! of one account (a phone and a desktop) share their read state. Reading on the phone
//! brings the desktop's unread count to 0 (live, through the PEP notification, and after a
//! reconnect, through the markers fetched on login); an older marker another device
//! publishes never moves a newer local one back.

mod sdk_support;
use mucsub::client::{AppEvent, Command};
use mucsub::native::{Endpoint, NativeClient};
use mucsub::store::{MemoryStore, Own, Store};
use mucsub_server::testkit::TestServer;
use sdk_support::{body, bounded, room_event};

const ROOM: &str = "reads@conference.localhost";

async fn device(
    server: &TestServer,
    user: &str,
    resource: &str,
    store: MemoryStore,
) -> NativeClient<MemoryStore> {
    let config = sdk_support::config(user, resource);
    let endpoint = Endpoint::Tcp(server.c2s_addr().to_string());
    let mut c = NativeClient::new(config, endpoint, store)
        .await
        .expect("client");
    c.connect().await.expect("connect");
    c.wait_synced().await.expect("initial sync");
    c
}

async fn unread(store: &MemoryStore) -> usize {
    let me = Own {
        nick: Some("bob"),
        jid: Some("bob@localhost"),
    };
    store.unread(ROOM, me).await.unwrap()
}

/// The unread count of the next `read` event for the room.
async fn read_event(c: &mut NativeClient<MemoryStore>) -> usize {
    match c
        .wait_for(|e| matches!(e, AppEvent::Read { room, .. } if room == ROOM))
        .await
        .unwrap()
    {
        AppEvent::Read { unread, .. } => unread,
        other => panic!("{other:?}"),
    }
}

/// Alice posts `text`; the archive id her echo carries, once `devices` have it.
async fn post(
    alice: &mut NativeClient<MemoryStore>,
    devices: &mut [&mut NativeClient<MemoryStore>],
    text: &str,
) -> String {
    let id = format!("id-{text}");
    alice
        .command(Command::send(ROOM, text, &id))
        .await
        .unwrap()
        .unwrap();
    let echo = room_event(alice, |r| body(r) == Some(text)).await;
    for d in devices.iter_mut() {
        room_event(d, |r| body(r) == Some(text)).await;
    }
    echo.stanza_id.expect("archived")
}

#[tokio::test]
async fn reading_on_one_device_clears_unread_on_the_other_and_never_moves_back() {
    bounded(async {
        let server = TestServer::start().await;
        server.add_user("alice", "pw").await;
        server.add_user("bob", "pw").await;
        let mut alice = device(&server, "alice", "sdk", MemoryStore::new()).await;
        alice
            .command(Command::subscribe(ROOM, "alice"))
            .await
            .unwrap()
            .unwrap();
        let phone_store = MemoryStore::new();
        let mut phone = device(&server, "bob", "phone", phone_store.clone()).await;
        phone
            .command(Command::subscribe(ROOM, "bob"))
            .await
            .unwrap()
            .unwrap();
        phone.wait_synced().await.unwrap();
        // The desktop finds the subscription on connect.
        let desktop_store = MemoryStore::new();
        let mut desktop = device(&server, "bob", "desktop", desktop_store.clone()).await;

        let first = post(&mut alice, &mut [&mut phone, &mut desktop], "one").await;
        post(&mut alice, &mut [&mut phone, &mut desktop], "two").await;
        post(&mut alice, &mut [&mut phone, &mut desktop], "three").await;
        assert_eq!(unread(&desktop_store).await, 3);

        // Live: the phone reads up to "two", then everything.
        assert!(phone.mark_read(ROOM, Some("id-two")).await.unwrap());
        assert_eq!(read_event(&mut desktop).await, 1);
        assert!(phone.mark_read(ROOM, None).await.unwrap());
        assert_eq!(read_event(&mut desktop).await, 0);
        assert_eq!(unread(&desktop_store).await, 0);

        // A third device that only read "one" publishes that older marker: the desktop
        // keeps its newer one (no `read` event, nothing unread again).
        let tablet_store = MemoryStore::new();
        let mut tablet = device(&server, "bob", "tablet", tablet_store.clone()).await;
        assert!(tablet.mark_read(ROOM, Some(&first)).await.unwrap());
        // One more round trip: the server handled the publish (and notified the
        // desktop) before answering this.
        tablet
            .command(Command::ListSubscriptions)
            .await
            .unwrap()
            .unwrap();
        post(&mut alice, &mut [&mut desktop], "four").await;
        let events = desktop.take_events();
        assert!(
            !events.iter().any(|e| matches!(e, AppEvent::Read { .. })),
            "an older marker moved the desktop's: {events:?}"
        );
        assert_eq!(unread(&desktop_store).await, 1, "only \"four\"");

        // Login: the desktop is away while the phone reads "four" and "five".
        desktop.disconnect().await.unwrap();
        post(&mut alice, &mut [&mut phone], "five").await;
        assert!(phone.mark_read(ROOM, None).await.unwrap());
        phone
            .command(Command::ListSubscriptions)
            .await
            .unwrap()
            .unwrap();
        desktop.connect().await.unwrap();
        desktop.wait_synced().await.unwrap();
        assert_eq!(read_event(&mut desktop).await, 0);
        assert_eq!(unread(&desktop_store).await, 0);
    })
    .await;
}
