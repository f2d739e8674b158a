//! The one error type of the core layer.

/// Why the core rejected an input. Inputs from the server or from other tabs are untrusted,
/// so every rejection is a value, never a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The text was not JSON of the expected shape.
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The input is larger than the layer accepts.
    #[error("input of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the rejected input in bytes.
        size: usize,
        /// The limit that applies to this kind of input.
        limit: usize,
    },
    /// A session view was refused (malformed, too large, or against a rule of the contract).
    #[error(transparent)]
    InvalidView(#[from] session_guard_contract::ViewError),
    /// The cross-tab message parsed but must be ignored (wrong version, session, type or field).
    #[error("peer message rejected: {0}")]
    PeerRejected(&'static str),
}
