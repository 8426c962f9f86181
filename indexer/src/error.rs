//! The indexer's one error type.

/// Everything that can go wrong while indexing, serving or auditing.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The database refused or failed a statement.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A schema migration failed.
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The node failed a request; `class` says whether retrying can help.
    #[error("rpc ({class}): {message}")]
    Rpc {
        /// What kind of failure it was.
        class: crate::chain::RpcErrorClass,
        /// The node's or transport's message.
        message: String,
    },
    /// A contract view call failed during an audit.
    #[error("contract call: {0}")]
    Contract(#[from] alloy::contract::Error),
    /// The deployment manifest could not be read.
    #[error(transparent)]
    Manifest(#[from] openlease_contracts::ManifestError),
    /// `--db` is neither `sqlite://` nor `postgres://`.
    #[error("unsupported database url `{0}`: expected sqlite://PATH or postgres://...")]
    DatabaseUrl(String),
    /// The database belongs to another chain or market.
    #[error("the database mirrors chain {stored_chain} market {stored_market}, not chain {chain} market {market}")]
    WrongDatabase { stored_chain: u64, stored_market: String, chain: u64, market: String },
    /// The chain reorganised deeper than the stored block-hash window.
    #[error(
        "the chain no longer matches the database: none of the last {window} blocks it stored (the oldest is block {oldest}) is on the node's chain. Either the chain was reset (a devnet restarted) or it reorganised deeper than the window. To mirror the chain as it is now, start from an empty database: remove the SQLite file (under --data-dir) or drop and recreate the PostgreSQL database, then run again"
    )]
    ReorgTooDeep { window: u64, oldest: u64 },
    /// A stored row could not be read back.
    #[error("corrupt row in `{table}`: {message}")]
    CorruptRow {
        table: &'static str,
        /// What was wrong.
        message: String,
    },
    /// Local I/O (the SQLite writer lock, the data dir).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with [`IndexerError`].
pub type Result<T, E = IndexerError> = std::result::Result<T, E>;
