//! [`Db::write`] group commit on a real database file: concurrent writes share commits,
//! a failing member is rolled back alone, and plain jobs keep their place in the order.

use super::Db;

async fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("t.db")).unwrap();
    db.call(|c| Ok(c.execute_batch("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT NOT NULL)")?))
        .await
        .unwrap();
    (dir, db)
}

async fn keys(db: &Db) -> Vec<i64> {
    db.read(|c| {
        let mut st = c.prepare("SELECT k FROM t ORDER BY k")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn concurrent_writes_all_commit_and_are_visible_when_answered() {
    let (_dir, db) = open().await;
    let mut tasks = Vec::new();
    for k in 0..200i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.write(move |c| Ok(c.execute("INSERT INTO t(k, v) VALUES (?1, 'x')", [k])?))
                .await
                .unwrap();
            // Answered means committed: a reader connection sees it at once.
            let seen: i64 = db
                .read(move |c| {
                    Ok(c.query_row("SELECT COUNT(*) FROM t WHERE k = ?1", [k], |r| r.get(0))?)
                })
                .await
                .unwrap();
            assert_eq!(seen, 1, "key {k} answered before it was visible");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(keys(&db).await, (0..200).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_failing_member_is_rolled_back_alone() {
    let (_dir, db) = open().await;
    let mut tasks = Vec::new();
    for k in 0..20i64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.write(move |c| {
                c.execute("INSERT INTO t(k, v) VALUES (?1, 'x')", [k])?;
                if k % 5 == 0 {
                    // Its own first insert must not survive the failure.
                    c.execute("INSERT INTO t(k, v) VALUES (?1, NULL)", [k + 1000])?;
                }
                Ok(k)
            })
            .await
        }));
    }
    let mut failed = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            failed.push(e.to_string());
        }
    }
    assert_eq!(failed.len(), 4, "{failed:?}");
    let expected: Vec<i64> = (0..20).filter(|k| k % 5 != 0).collect();
    assert_eq!(keys(&db).await, expected);
}

#[tokio::test]
async fn a_panicking_member_fails_alone() {
    let (_dir, db) = open().await;
    let a = db.write(|c| Ok(c.execute("INSERT INTO t(k, v) VALUES (1, 'a')", [])?));
    let b = db.write(|c| -> anyhow::Result<()> {
        c.execute("INSERT INTO t(k, v) VALUES (2, 'b')", [])?;
        panic!("a bug in a write job");
    });
    let c = db.write(|c| Ok(c.execute("INSERT INTO t(k, v) VALUES (3, 'c')", [])?));
    let (a, b, c) = tokio::join!(a, b, c);
    assert!(a.is_ok() && b.is_err() && c.is_ok());
    assert_eq!(keys(&db).await, vec![1, 3]);
}

#[tokio::test]
async fn plain_jobs_keep_their_place_between_grouped_writes() {
    let (_dir, db) = open().await;
    let w1 = db.write(|c| Ok(c.execute("INSERT INTO t(k, v) VALUES (1, 'a')", [])?));
    // Queued after w1: must see it, and w2 (queued after) must see the plain job's row.
    let plain = db.call(|c| {
        let n: i64 = c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?;
        let tx = c.transaction()?;
        tx.execute("INSERT INTO t(k, v) VALUES (2, 'plain')", [])?;
        tx.commit()?;
        Ok(n)
    });
    let w2 = db.write(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?));
    let (w1, plain, w2) = tokio::join!(w1, plain, w2);
    w1.unwrap();
    assert_eq!(plain.unwrap(), 1);
    assert_eq!(w2.unwrap(), 2);
}
