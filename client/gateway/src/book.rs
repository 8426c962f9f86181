//! The gateway's durable receipt book: the newest receipt of every lease, on disk before the
//! gateway answers the request that brought it. SQLite for one gateway; PostgreSQL for replicas
//! behind a load balancer, which then share one book in which the newest receipt of a lease wins
//! (a replica holding an older one learns it when its write changes nothing).
//!
//! A receipt's cumulative amount is stored as [`sortable_amount`] text (78 zero-padded decimal
//! digits: text order is numeric order over all of uint256), the encoding the indexer's amounts
//! share, which the upsert compares. Books kept by older gateways held it as 64 hex digits: they
//! are converted when the book is opened.

use std::{path::Path, time::Duration};

use alloy::primitives::{Address, U256};
use openlease_client::{ReceiptDomain, ReceiptFile, SignedReceipt, units::sortable_amount};
use sqlx::{
    AnyPool, Row,
    any::{AnyPoolOptions, install_default_drivers},
};

/// What the book could not do.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// The database refused or could not be reached.
    #[error("receipt book: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored receipt no longer reads (a hand-edited row, another market's database).
    #[error("receipt book: stored receipt of lease {lease_id} does not read: {reason}")]
    Corrupt { lease_id: String, reason: String },
    /// The URL names no database this gateway speaks.
    #[error("receipt book: `{0}` is neither sqlite://PATH nor postgres://…")]
    Url(String),
    /// A write of the book failed (the whole batch it was committed with did).
    #[error("receipt book: {0}")]
    Write(String),
    /// The directory of a SQLite file could not be made.
    #[error("receipt book: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored receipt, as the book hands it back on start.
#[derive(Debug, Clone)]
pub struct Stored {
    pub tenant: Address,
    pub receipt: SignedReceipt,
}

/// The book on its database. Writes go through one task that commits whatever is waiting in a
/// single transaction (group commit): under load one fsync serves many receipts, and each
/// caller still returns only once its own receipt is committed.
#[derive(Debug, Clone)]
pub struct ReceiptStore {
    pool: AnyPool,
    postgres: bool,
    writer: tokio::sync::mpsc::Sender<Write>,
}

/// One receipt to keep, and where to say whether it was the newest.
#[derive(Debug)]
struct Write {
    lease_id: String,
    cumulative: String,
    tenant: String,
    file: String,
    done: tokio::sync::oneshot::Sender<Result<bool, String>>,
}

/// Receipts committed together at most.
const BATCH: usize = 512;

impl ReceiptStore {
    /// Opens (creating if needed) the book at `url`: `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Self, BookError> {
        install_default_drivers();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        let mut url = url.to_owned();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(dir) = Path::new(path.split('?').next().unwrap_or(path)).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)?;
            }
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
        } else if !postgres {
            return Err(BookError::Url(url));
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if postgres { 8 } else { 1 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if !postgres {
                        // A receipt the gateway acknowledged must outlive a crash of the machine,
                        // not just of the process: every commit reaches the disk.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = FULL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS gateway_receipts (
                lease_id TEXT PRIMARY KEY,
                cumulative TEXT NOT NULL,
                tenant TEXT NOT NULL,
                receipt TEXT NOT NULL
            )",
        )
        .execute(&pool)
        .await?;
        // One row per start of any replica: the epoch its answer attestations are numbered in.
        sqlx::query("CREATE TABLE IF NOT EXISTS gateway_epochs (epoch BIGINT PRIMARY KEY)").execute(&pool).await?;
        convert_hex_rows(&pool, postgres).await?;
        let (writer, writes) = tokio::sync::mpsc::channel(4 * BATCH);
        tokio::spawn(write_batches(pool.clone(), postgres, writes));
        Ok(Self { pool, postgres, writer })
    }

    /// Keeps `receipt` (of `tenant`'s lease) if it is the newest of its lease; `false` when the
    /// book already holds one as large (another replica's, or a replay). Returns once the write
    /// is committed.
    pub async fn keep(
        &self,
        domain: &ReceiptDomain,
        tenant: Address,
        receipt: &SignedReceipt,
    ) -> Result<bool, BookError> {
        let (done, committed) = tokio::sync::oneshot::channel();
        let write = Write {
            lease_id: receipt.receipt.leaseId.to_string(),
            cumulative: sortable_amount(receipt.receipt.cumulativeAmount),
            tenant: tenant.to_string(),
            file: serde_json::to_string(&ReceiptFile::new(domain, receipt)).expect("a receipt file serializes"),
            done,
        };
        let stopped = || BookError::Write("the book's writer stopped".into());
        self.writer.send(write).await.map_err(|_| stopped())?;
        committed.await.map_err(|_| stopped())?.map_err(BookError::Write)
    }

    /// Every lease's newest receipt.
    pub async fn all(&self, domain: &ReceiptDomain) -> Result<Vec<Stored>, BookError> {
        let rows = sqlx::query("SELECT lease_id, tenant, receipt FROM gateway_receipts ORDER BY lease_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let lease_id: String = row.try_get("lease_id")?;
                let corrupt = |reason: String| BookError::Corrupt { lease_id: lease_id.clone(), reason };
                let tenant: String = row.try_get("tenant")?;
                let text: String = row.try_get("receipt")?;
                let receipt = ReceiptFile::from_json(&text)
                    .and_then(|file| file.for_domain(domain))
                    .map_err(|e| corrupt(e.to_string()))?;
                let tenant = tenant.parse().map_err(|e: alloy::hex::FromHexError| corrupt(e.to_string()))?;
                Ok(Stored { tenant, receipt })
            })
            .collect()
    }

    /// A number no earlier start of any replica sharing this book was given: it tells this
    /// process's answer attestations from those of the replicas beside it
    /// ([`openlease_client::Attester`]), so that no two repeat a sequence (which would read as
    /// equivocation).
    pub async fn next_epoch(&self) -> Result<u64, BookError> {
        let insert = if self.postgres {
            "INSERT INTO gateway_epochs (epoch) VALUES ($1)"
        } else {
            "INSERT INTO gateway_epochs (epoch) VALUES (?)"
        };
        loop {
            let next: i64 = sqlx::query("SELECT COALESCE(MAX(epoch), 0) + 1 FROM gateway_epochs")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?;
            match sqlx::query(insert).bind(next).execute(&self.pool).await {
                Ok(_) => return Ok(next as u64),
                // Another replica started at the same moment and took it: the next one.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Drops a lease's receipt once nothing more can be settled of it (finalized).
    pub async fn forget(&self, lease_id: U256) -> Result<(), BookError> {
        let sql = if self.postgres {
            "DELETE FROM gateway_receipts WHERE lease_id = $1"
        } else {
            "DELETE FROM gateway_receipts WHERE lease_id = ?"
        };
        sqlx::query(sql).bind(lease_id.to_string()).execute(&self.pool).await?;
        Ok(())
    }

    /// Runs `settle` only in the one replica holding the book's settlement lock (PostgreSQL:
    /// an advisory lock held for the call; SQLite: one gateway per file, always).
    pub async fn with_settlement_lock<F, T>(&self, settle: F) -> Result<Option<T>, BookError>
    where
        F: std::future::Future<Output = T>,
    {
        if !self.postgres {
            return Ok(Some(settle.await));
        }
        let mut conn = self.pool.acquire().await?;
        // The key is arbitrary but fixed: "olgw" (Openlease gateway).
        let locked: bool =
            sqlx::query("SELECT pg_try_advisory_lock(1869375351)").fetch_one(&mut *conn).await?.try_get(0)?;
        if !locked {
            return Ok(None);
        }
        let result = settle.await;
        sqlx::query("SELECT pg_advisory_unlock(1869375351)").execute(&mut *conn).await?;
        Ok(Some(result))
    }
}

/// The width of the cumulative amounts older gateways wrote: `{:064x}`.
const HEX_WIDTH: i64 = 64;

/// Rewrites the rows an older gateway kept (cumulative amounts as 64 hex digits, told apart by
/// their width from the 78 of [`sortable_amount`]) in one transaction, before anything is written:
/// the upsert then compares like with like. Idempotent, and safe beside replicas opening the same
/// book: a row is rewritten only if it still holds the hex it was read with, so one converted (or
/// replaced by a newer receipt) meanwhile is left as it is.
async fn convert_hex_rows(pool: &AnyPool, postgres: bool) -> Result<(), BookError> {
    let mut tx = pool.begin().await?;
    let select = if postgres {
        "SELECT lease_id, cumulative FROM gateway_receipts WHERE length(cumulative) = $1"
    } else {
        "SELECT lease_id, cumulative FROM gateway_receipts WHERE length(cumulative) = ?"
    };
    let rows = sqlx::query(select).bind(HEX_WIDTH).fetch_all(&mut *tx).await?;
    let update = if postgres {
        "UPDATE gateway_receipts SET cumulative = $1 WHERE lease_id = $2 AND cumulative = $3"
    } else {
        "UPDATE gateway_receipts SET cumulative = ? WHERE lease_id = ? AND cumulative = ?"
    };
    for row in &rows {
        let lease_id: String = row.try_get("lease_id")?;
        let hex: String = row.try_get("cumulative")?;
        let amount = U256::from_str_radix(&hex, 16).map_err(|e| BookError::Corrupt {
            lease_id: lease_id.clone(),
            reason: format!("cumulative amount `{hex}`: {e}"),
        })?;
        sqlx::query(update).bind(sortable_amount(amount)).bind(&lease_id).bind(&hex).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    if !rows.is_empty() {
        tracing::info!(rows = rows.len(), "receipt book: cumulative amounts of an older gateway converted");
    }
    Ok(())
}

/// The book's writer: each batch of waiting receipts in one transaction, newest-wins per row.
async fn write_batches(pool: AnyPool, postgres: bool, mut writes: tokio::sync::mpsc::Receiver<Write>) {
    let sql = if postgres {
        "INSERT INTO gateway_receipts (lease_id, cumulative, tenant, receipt) VALUES ($1, $2, $3, $4)
         ON CONFLICT (lease_id) DO UPDATE SET cumulative = excluded.cumulative, tenant = excluded.tenant,
         receipt = excluded.receipt WHERE excluded.cumulative > gateway_receipts.cumulative"
    } else {
        "INSERT INTO gateway_receipts (lease_id, cumulative, tenant, receipt) VALUES (?, ?, ?, ?)
         ON CONFLICT (lease_id) DO UPDATE SET cumulative = excluded.cumulative, tenant = excluded.tenant,
         receipt = excluded.receipt WHERE excluded.cumulative > gateway_receipts.cumulative"
    };
    while let Some(first) = writes.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match writes.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let committed = async {
            let mut tx = pool.begin().await?;
            let mut newest = Vec::with_capacity(batch.len());
            for write in &batch {
                let done = sqlx::query(sql)
                    .bind(&write.lease_id)
                    .bind(&write.cumulative)
                    .bind(&write.tenant)
                    .bind(&write.file)
                    .execute(&mut *tx)
                    .await?;
                newest.push(done.rows_affected() == 1);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(newest)
        }
        .await;
        match committed {
            Ok(newest) => {
                for (write, newest) in batch.into_iter().zip(newest) {
                    let _ = write.done.send(Ok(newest));
                }
            }
            Err(error) => {
                for write in batch {
                    let _ = write.done.send(Err(error.to_string()));
                }
            }
        }
    }
}
