//! One-shot messages: an action queues one, the next page shows it.

use crate::Error;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

const FLASH_KEY: &str = "flash";

/// A one-shot message shown on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `ok` or `error`.
    pub kind: String,
    /// The text.
    pub message: String,
}

/// Queues a message for the next page.
pub async fn flash(session: &Session, kind: &str, message: impl Into<String>) -> Result<(), Error> {
    session
        .insert(
            FLASH_KEY,
            Flash {
                kind: kind.into(),
                message: message.into(),
            },
        )
        .await?;
    Ok(())
}

/// Takes the queued message, if any.
pub async fn take_flash(session: &Session) -> Result<Option<Flash>, Error> {
    Ok(session.remove(FLASH_KEY).await?)
}
