//! What the device wakes with, in IndexedDB (schema v5 `device`, record `wake`): the JSON of
//! [`Wake`] — the `<user-agent id>`, the FAST token and the stream-management state — so a
//! reload or a wake signs in, and resumes, without the password. There is no field for a
//! password, so none can end up here.

use idb::{Query, TransactionMode};
use wasm_bindgen::JsValue;

use super::error::SdkError;
use super::idb_records::{self as rec, field, set_field};
use super::idb_req::{found, req};
use super::idb_schema::stores;
use super::idb_store::{finish, IdbStore};
use crate::session::Wake;

const KEY: &str = "wake";

impl IdbStore {
    /// The saved wake state; `None` when there is none (a new device, or signed out). A
    /// record this SDK cannot read counts as none: the next sign-in needs the password,
    /// which is what a lost token means anyway.
    pub async fn load_wake(&self) -> Result<Option<Wake>, SdkError> {
        let tx = self
            .tx(&[stores::DEVICE], TransactionMode::ReadOnly)
            .await?;
        let got = req(tx
            .object_store(stores::DEVICE)?
            .get(Query::Key(JsValue::from_str(KEY)))?)
        .await?;
        let Some(record) = found(got) else {
            return Ok(None);
        };
        let text = field(&record, "value")?.as_string().unwrap_or_default();
        // Parsed by `JSON.parse` (serde_json's own deserializer, which nothing else in the
        // package uses, cost 11 KB gzipped) and read field by field (wake_read.rs).
        let value = js_sys::JSON::parse(&text).ok();
        Ok(value.and_then(|v| super::wake_read::read(&v)))
    }

    /// Saves the wake state (replacing the former).
    pub async fn save_wake(&self, wake: &Wake) -> Result<(), SdkError> {
        let text =
            serde_json::to_string(wake).map_err(|e| SdkError::store(format!("wake state: {e}")))?;
        let tx = self
            .tx(&[stores::DEVICE], TransactionMode::ReadWrite)
            .await?;
        let r = async {
            let record = rec::record();
            set_field(&record, "key", &JsValue::from_str(KEY))?;
            set_field(&record, "value", &JsValue::from_str(&text))?;
            req(tx.object_store(stores::DEVICE)?.put(&record, None)?).await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }

    /// Forgets the wake state (signed out): the next sign-in needs the password.
    pub async fn clear_wake(&self) -> Result<(), SdkError> {
        let tx = self
            .tx(&[stores::DEVICE], TransactionMode::ReadWrite)
            .await?;
        let r = async {
            req(tx
                .object_store(stores::DEVICE)?
                .delete(Query::Key(JsValue::from_str(KEY)))?)
            .await?;
            Ok(())
        }
        .await;
        finish(tx, r).await
    }
}
