//! The database: SQLite or PostgreSQL behind one portable schema (`migrations/`). Ingestion
//! writes a batch — events, the entities they touched, the block-hash window and the cursor — in
//! one transaction, so a crash leaves either the whole batch or none of it.

use std::{path::PathBuf, str::FromStr, time::Duration};

use alloy::primitives::{Address, B256, Bytes};
use sqlx::{
    AnyConnection, AnyPool, AssertSqlSafe, Row,
    any::{AnyPoolOptions, install_default_drivers},
};

use crate::{
    IndexerError, Result,
    state::{Market, Settlement, Touched},
};

/// Amounts are stored as decimal text this wide, so that text order is numeric order.
const AMOUNT_WIDTH: usize = 39;
/// Rows per multi-row `INSERT` of events or settlements: fewer round trips (PostgreSQL) and
/// statements (SQLite) per batch.
const ROWS_PER_INSERT: usize = 500;
/// The PostgreSQL advisory lock that elects the single writer.
const WRITER_LOCK_KEY: i64 = 0x6f70_656e_6c65_6173; // "openleas"

/// An address as stored: lowercase hex, so that text order is the same on both backends.
pub fn hex(address: &Address) -> String {
    format!("{address:#x}")
}

/// `u128` as zero-padded decimal text.
pub fn pad(value: u128) -> String {
    format!("{value:0AMOUNT_WIDTH$}")
}

/// Zero-padded decimal text back to `u128`.
pub fn unpad(text: &str) -> Result<u128> {
    text.parse()
        .map_err(|_| IndexerError::CorruptRow { table: "amount", message: format!("`{text}` is not an amount") })
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres,
}

impl FromStr for Backend {
    type Err = IndexerError;

    fn from_str(url: &str) -> Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(IndexerError::DatabaseUrl(url.to_owned()))
        }
    }
}

/// A block the store knows: the cursor or an entry of the block-hash window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
}

/// How far the mirror got, and where the chain stood when it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub chain_id: u64,
    pub market: Address,
    /// Last block applied.
    pub number: u64,
    pub hash: B256,
    /// The node's head when it was applied.
    pub head: u64,
    /// The node's `safe` block.
    pub safe: u64,
    /// The node's `finalized` block.
    pub finalized: u64,
}

/// One marketplace log as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub block: u64,
    /// Log index in the block.
    pub log_index: u64,
    pub block_hash: B256,
    pub timestamp: u64,
    pub tx_hash: B256,
    pub name: String,
    pub topics: Vec<B256>,
    pub data: Bytes,
}

/// One batch of ingestion: what to write in a single transaction.
#[derive(Debug)]
pub struct Batch<'a> {
    /// New events, in (block, log index) order.
    pub events: &'a [StoredEvent],
    /// The market after the events.
    pub market: &'a Market,
    /// What the events touched.
    pub touched: &'a Touched,
    /// New entries of the block-hash window.
    pub blocks: &'a [BlockRef],
    /// Window entries below this are dropped.
    pub window_floor: u64,
    /// The cursor after the batch.
    pub cursor: &'a Cursor,
}

/// Holds the right to write; dropping it lets a standby take over.
#[derive(Debug)]
pub enum WriterLock {
    /// An exclusive lock on `<db>.writer.lock`.
    Sqlite(std::fs::File),
    /// A session holding the advisory lock.
    Postgres(AnyConnection),
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

impl Store {
    /// Connects (creating a SQLite file and its directory when missing) and migrates the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        install_default_drivers();
        let backend: Backend = url.parse()?;
        let mut url = url.to_owned();
        if let Backend::Sqlite(path) = &backend {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            if !url.contains('?') {
                url.push_str("?mode=rwc");
            }
        }
        let sqlite = matches!(backend, Backend::Sqlite(_));
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Per connection. In WAL mode `NORMAL` still never corrupts the database nor
                        // splits a transaction: a power loss may only drop the last commits, which
                        // ingestion reads again (the cursor is in the same transactions). A larger
                        // page cache keeps a batch's pages in memory until its commit.
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA cache_size = -65536").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA temp_store = MEMORY").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if sqlite {
            // Readers (the API) never block the writer, nor it them.
            sqlx::query("PRAGMA journal_mode=WAL").execute(&pool).await?;
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool, backend, url })
    }

    /// A read-only transaction that sees one state of the mirror throughout: the cursor and
    /// every table as one commit left them (PostgreSQL: repeatable read; SQLite in WAL: the
    /// snapshot taken at the first read).
    pub async fn snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// The connection pool, for readers.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Tries to become the single writer; `None` while another indexer holds the lock.
    pub async fn try_lock_writer(&self) -> Result<Option<WriterLock>> {
        match &self.backend {
            Backend::Sqlite(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(path.with_extension("writer.lock"))?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(WriterLock::Sqlite(file))),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let mut conn = AnyConnection::connect(&self.url).await?;
                let locked: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                    .bind(WRITER_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await?
                    .try_get(0)?;
                Ok(locked.then_some(WriterLock::Postgres(conn)))
            }
        }
    }

    /// Waits until this process is the single writer, polling every `every`.
    pub async fn lock_writer(&self, every: Duration) -> Result<WriterLock> {
        let mut logged = false;
        loop {
            if let Some(lock) = self.try_lock_writer().await? {
                return Ok(lock);
            }
            if !logged {
                tracing::info!("another indexer writes to this database: waiting as a standby");
                logged = true;
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The cursor, once ingestion has started.
    pub async fn cursor(&self) -> Result<Option<Cursor>> {
        Self::cursor_in(&self.pool).await
    }

    /// The cursor as `executor` (a pool, or a snapshot's transaction) sees it.
    pub async fn cursor_in<'e>(executor: impl sqlx::Executor<'e, Database = sqlx::Any>) -> Result<Option<Cursor>> {
        let row = sqlx::query("SELECT chain_id, market, number, hash, head, safe, finalized FROM cursor WHERE id = 1")
            .fetch_optional(executor)
            .await?;
        row.map(|row| {
            Ok(Cursor {
                chain_id: get_u64(&row, "chain_id")?,
                market: parse(&row, "market", "cursor")?,
                number: get_u64(&row, "number")?,
                hash: parse(&row, "hash", "cursor")?,
                head: get_u64(&row, "head")?,
                safe: get_u64(&row, "safe")?,
                finalized: get_u64(&row, "finalized")?,
            })
        })
        .transpose()
    }

    /// The block-hash window, newest first.
    pub async fn window(&self) -> Result<Vec<BlockRef>> {
        let rows = sqlx::query("SELECT number, hash, parent_hash FROM blocks ORDER BY number DESC")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(BlockRef {
                    number: get_u64(row, "number")?,
                    hash: parse(row, "hash", "blocks")?,
                    parent_hash: parse(row, "parent_hash", "blocks")?,
                })
            })
            .collect()
    }

    /// Stored events up to and including `block`, in order.
    pub async fn events_up_to(&self, block: u64) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT block_number, log_index, block_hash, block_timestamp, tx_hash, name, topics, data FROM events \
             WHERE block_number <= $1 ORDER BY block_number, log_index",
        )
        .bind(block as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(read_event).collect()
    }

    /// How many events are stored.
    pub async fn event_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM events").fetch_one(&self.pool).await?.try_get(0)?;
        Ok(count as u64)
    }

    /// Writes one batch in one transaction.
    pub async fn commit(&self, batch: &Batch<'_>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_events(&mut tx, batch.events).await?;
        insert_settlements(&mut tx, &batch.touched.settlements).await?;
        write_touched(&mut tx, batch.market, batch.touched).await?;
        for block in batch.blocks {
            sqlx::query(
                "INSERT INTO blocks (number, hash, parent_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (number) DO UPDATE SET hash = excluded.hash, parent_hash = excluded.parent_hash",
            )
            .bind(block.number as i64)
            .bind(block.hash.to_string())
            .bind(block.parent_hash.to_string())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM blocks WHERE number < $1").bind(batch.window_floor as i64).execute(&mut *tx).await?;
        write_cursor(&mut tx, batch.cursor).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rolls the mirror back to `ancestor`: drops the events and window above it and rewrites
    /// every entity from `market`, the replay of the events kept.
    pub async fn roll_back(&self, ancestor: &Cursor, market: &Market) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let above = ancestor.number as i64;
        for table in ["events", "settlements", "blocks"] {
            let column = if table == "blocks" { "number" } else { "block_number" };
            // Table and column names come from the literals above.
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE {column} > $1")))
                .bind(above)
                .execute(&mut *tx)
                .await?;
        }
        for table in ["providers", "stakes", "offers", "leases", "signers", "disputes", "balances", "fees", "params"] {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *tx).await?;
        }
        write_touched(&mut tx, market, &market.everything()).await?;
        write_cursor(&mut tx, ancestor).await?;
        tx.commit().await?;
        Ok(())
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

fn get_u64(row: &sqlx::any::AnyRow, column: &str) -> Result<u64> {
    Ok(row.try_get::<i64, _>(column)? as u64)
}

fn parse<T: FromStr>(row: &sqlx::any::AnyRow, column: &str, table: &'static str) -> Result<T> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|_| IndexerError::CorruptRow { table, message: format!("{column} = `{text}`") })
}

fn read_event(row: &sqlx::any::AnyRow) -> Result<StoredEvent> {
    let corrupt = |message: String| IndexerError::CorruptRow { table: "events", message };
    let topics: String = row.try_get("topics")?;
    Ok(StoredEvent {
        block: get_u64(row, "block_number")?,
        log_index: get_u64(row, "log_index")?,
        block_hash: parse(row, "block_hash", "events")?,
        timestamp: get_u64(row, "block_timestamp")?,
        tx_hash: parse(row, "tx_hash", "events")?,
        name: row.try_get("name")?,
        topics: serde_json::from_str(&topics).map_err(|e| corrupt(format!("topics: {e}")))?,
        data: parse(row, "data", "events")?,
    })
}

/// `($1,$2,…),(…),…` on PostgreSQL, `(?,?,…),(…),…` on SQLite: the placeholders of a multi-row
/// `INSERT` of `rows` rows of `columns` values. SQLite takes `$N` as a *named* parameter, and
/// binding names costs a scan of all of them per parameter (quadratic in the statement's width:
/// 4× slower at 500 rows); anonymous `?` are bound by position.
fn placeholders(tx: &Tx, rows: usize, columns: usize) -> String {
    let numbered = tx.backend_name() == "PostgreSQL";
    let mut sql = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ",(" });
        for column in 0..columns {
            if column > 0 {
                sql.push(',');
            }
            if numbered {
                sql.push_str(&format!("${}", row * columns + column + 1));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

async fn insert_events(tx: &mut Tx, events: &[StoredEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO events (block_number, log_index, block_hash, block_timestamp, tx_hash, name, topics, data) VALUES {}",
            placeholders(tx, chunk.len(), 8)
        );
        // Only placeholders are formatted in; the values are bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for e in chunk {
            query = query
                .bind(e.block as i64)
                .bind(e.log_index as i64)
                .bind(e.block_hash.to_string())
                .bind(e.timestamp as i64)
                .bind(e.tx_hash.to_string())
                .bind(e.name.clone())
                .bind(serde_json::to_string(&e.topics).expect("topics serialize"))
                .bind(e.data.to_string());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_settlements(tx: &mut Tx, settlements: &[Settlement]) -> Result<()> {
    if settlements.is_empty() {
        return Ok(());
    }
    for chunk in settlements.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO settlements (block_number, log_index, tx_hash, lease_id, signer, cumulative_amount, paid, fee) VALUES {}",
            placeholders(tx, chunk.len(), 8)
        );
        // Only placeholders are formatted in; the values are bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for s in chunk {
            query = query
                .bind(s.position.block as i64)
                .bind(s.position.log_index as i64)
                .bind(s.position.tx_hash.to_string())
                .bind(s.lease_id as i64)
                .bind(hex(&s.signer))
                .bind(pad(s.cumulative_amount))
                .bind(pad(s.paid))
                .bind(pad(s.fee));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn write_cursor(tx: &mut Tx, c: &Cursor) -> Result<()> {
    sqlx::query(
        "INSERT INTO cursor (id, chain_id, market, number, hash, head, safe, finalized) VALUES (1, $1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET chain_id = excluded.chain_id, market = excluded.market, number = excluded.number, \
         hash = excluded.hash, head = excluded.head, safe = excluded.safe, finalized = excluded.finalized",
    )
    .bind(c.chain_id as i64)
    .bind(hex(&c.market))
    .bind(c.number as i64)
    .bind(c.hash.to_string())
    .bind(c.head as i64)
    .bind(c.safe as i64)
    .bind(c.finalized as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Upserts every entity in `touched` from `market`.
async fn write_touched(tx: &mut Tx, market: &Market, touched: &Touched) -> Result<()> {
    for address in &touched.providers {
        let p = &market.providers[address];
        sqlx::query(
            "INSERT INTO providers (address, metadata_uri, endpoint, region, attributes_hash, registered_block, leases_completed, \
             early_terminations, disputes_lost, slashed_amount, total_earned, reputation_bps, block_number, attestation_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (address) DO UPDATE SET \
             metadata_uri = excluded.metadata_uri, endpoint = excluded.endpoint, region = excluded.region, \
             attributes_hash = excluded.attributes_hash, leases_completed = excluded.leases_completed, \
             early_terminations = excluded.early_terminations, disputes_lost = excluded.disputes_lost, \
             slashed_amount = excluded.slashed_amount, total_earned = excluded.total_earned, \
             reputation_bps = excluded.reputation_bps, block_number = excluded.block_number",
        )
        .bind(hex(address))
        .bind(p.metadata_uri.clone())
        .bind(p.endpoint.clone())
        .bind(p.region.clone())
        .bind(p.attributes_hash.to_string())
        .bind(p.registered_block as i64)
        .bind(p.leases_completed as i64)
        .bind(p.early_terminations as i64)
        .bind(p.disputes_lost as i64)
        .bind(pad(p.slashed_amount))
        .bind(pad(p.total_earned))
        .bind(p.reputation_bps() as i64)
        .bind(p.block as i64)
        .bind(hex(&p.attestation_key))
        .execute(&mut **tx)
        .await?;
    }
    for key @ (provider, token) in &touched.stakes {
        let s = &market.stakes[key];
        sqlx::query(
            "INSERT INTO stakes (provider, token, staked, locked, free, thawing, thaw_ends_at, block_number) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (provider, token) DO UPDATE SET staked = excluded.staked, \
             locked = excluded.locked, free = excluded.free, thawing = excluded.thawing, thaw_ends_at = excluded.thaw_ends_at, \
             block_number = excluded.block_number",
        )
        .bind(hex(provider))
        .bind(hex(token))
        .bind(pad(s.staked))
        .bind(pad(s.locked))
        .bind(pad(s.staked.saturating_sub(s.locked)))
        .bind(pad(s.thawing))
        .bind(s.thaw_ends_at as i64)
        .bind(s.block as i64)
        .execute(&mut **tx)
        .await?;
    }
    for id in &touched.offers {
        let Some(o) = market.offers.get(id) else { continue };
        sqlx::query(
            "INSERT INTO offers (offer_id, provider, token, price_per_second, min_duration, max_duration, notice_period, capacity, \
             active_leases, paused, block_number) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (offer_id) DO UPDATE SET price_per_second = excluded.price_per_second, \
             min_duration = excluded.min_duration, max_duration = excluded.max_duration, notice_period = excluded.notice_period, \
             capacity = excluded.capacity, active_leases = excluded.active_leases, paused = excluded.paused, \
             block_number = excluded.block_number",
        )
        .bind(*id as i64)
        .bind(hex(&o.provider))
        .bind(hex(&o.token))
        .bind(pad(o.price_per_second.into()))
        .bind(o.min_duration as i64)
        .bind(o.max_duration as i64)
        .bind(o.notice_period as i64)
        .bind(o.capacity as i64)
        .bind(o.active_leases as i64)
        .bind(i64::from(o.paused))
        .bind(o.block as i64)
        .execute(&mut **tx)
        .await?;
    }
    for id in &touched.leases {
        let Some(l) = market.leases.get(id) else { continue };
        sqlx::query(
            "INSERT INTO leases (lease_id, offer_id, tenant, provider, token, started_at, ends_at, lease_end, settlement_deadline, \
             deposit, settled, escrow, price_per_second, bond, notice_period, min_ends_at, status, terminated, block_number, \
             params_version, evicted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
             ON CONFLICT (lease_id) DO UPDATE SET ends_at = excluded.ends_at, lease_end = excluded.lease_end, \
             settlement_deadline = excluded.settlement_deadline, deposit = excluded.deposit, settled = excluded.settled, \
             escrow = excluded.escrow, bond = excluded.bond, status = excluded.status, terminated = excluded.terminated, \
             block_number = excluded.block_number, evicted = excluded.evicted",
        )
        .bind(*id as i64)
        .bind(l.offer_id as i64)
        .bind(hex(&l.tenant))
        .bind(hex(&l.provider))
        .bind(hex(&l.token))
        .bind(l.started_at as i64)
        .bind(l.ends_at as i64)
        .bind(l.lease_end() as i64)
        .bind(l.settlement_deadline() as i64)
        .bind(pad(l.deposit))
        .bind(pad(l.settled))
        .bind(pad(if l.status == crate::state::LeaseStatus::Open { l.deposit.saturating_sub(l.settled) } else { 0 }))
        .bind(pad(l.price_per_second.into()))
        .bind(pad(l.bond))
        .bind(l.notice_period as i64)
        .bind(l.min_ends_at as i64)
        .bind(l.status.as_str())
        .bind(i64::from(l.terminated))
        .bind(l.block as i64)
        .bind(l.params_version as i64)
        .bind(i64::from(l.evicted))
        .execute(&mut **tx)
        .await?;
    }
    for key @ (tenant, signer) in &touched.signers {
        let s = &market.signers[key];
        sqlx::query(
            "INSERT INTO signers (tenant, signer, cap, spent, expires_at, block_number) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant, signer) DO UPDATE SET cap = excluded.cap, spent = excluded.spent, \
             expires_at = excluded.expires_at, block_number = excluded.block_number",
        )
        .bind(hex(tenant))
        .bind(hex(signer))
        .bind(pad(s.cap))
        .bind(pad(s.spent))
        .bind(s.expires_at as i64)
        .bind(s.block as i64)
        .execute(&mut **tx)
        .await?;
    }
    for id in &touched.disputes {
        let d = &market.disputes[id];
        sqlx::query(
            "INSERT INTO disputes (lease_id, tenant_bond, deadline, status, evidence_uri, slash_bps, block_number) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (lease_id) DO UPDATE SET tenant_bond = excluded.tenant_bond, \
             deadline = excluded.deadline, status = excluded.status, evidence_uri = excluded.evidence_uri, \
             slash_bps = excluded.slash_bps, block_number = excluded.block_number",
        )
        .bind(*id as i64)
        .bind(pad(d.tenant_bond))
        .bind(d.deadline as i64)
        .bind(d.status.as_str())
        .bind(d.evidence_uri.clone())
        .bind(d.slash_bps as i64)
        .bind(d.block as i64)
        .execute(&mut **tx)
        .await?;
    }
    for key @ (account, token) in &touched.claimable {
        let (value, block) = market.claimable[key];
        sqlx::query(
            "INSERT INTO balances (account, token, claimable, block_number) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account, token) DO UPDATE SET claimable = excluded.claimable, block_number = excluded.block_number",
        )
        .bind(hex(account))
        .bind(hex(token))
        .bind(pad(value))
        .bind(block as i64)
        .execute(&mut **tx)
        .await?;
    }
    for token in &touched.fees {
        let (value, block) = market.fees[token];
        sqlx::query(
            "INSERT INTO fees (token, owed, block_number) VALUES ($1, $2, $3) \
             ON CONFLICT (token) DO UPDATE SET owed = excluded.owed, block_number = excluded.block_number",
        )
        .bind(hex(token))
        .bind(pad(value))
        .bind(block as i64)
        .execute(&mut **tx)
        .await?;
    }
    if touched.governance {
        write_governance(tx, market).await?;
    }
    Ok(())
}

async fn write_governance(tx: &mut Tx, market: &Market) -> Result<()> {
    let g = &market.governance;
    // Every version, as `v<N>.<field>`, and the newest as `paramsVersion` / `paramsEffectiveAt`.
    let mut rows: Vec<(String, String)> = Vec::new();
    for (version, v) in &g.versions {
        let p = &v.params;
        let fields: [(&str, String); 10] = [
            ("effectiveAt", v.effective_at.to_string()),
            ("protocolFeeBps", p.protocolFeeBps.to_string()),
            ("settlementWindow", p.settlementWindow.to_string()),
            ("bondBps", p.bondBps.to_string()),
            ("slashCutBps", p.slashCutBps.to_string()),
            ("maxDisputeSlashBps", p.maxDisputeSlashBps.to_string()),
            ("disputeBondBps", p.disputeBondBps.to_string()),
            ("disputePeriod", p.disputePeriod.to_string()),
            ("unbondingPeriod", p.unbondingPeriod.to_string()),
            ("arbiter", hex(&p.arbiter)),
        ];
        rows.extend(fields.into_iter().map(|(field, value)| (format!("v{version}.{field}"), value)));
    }
    if let Some((version, v)) = g.versions.last_key_value() {
        rows.push(("paramsVersion".into(), version.to_string()));
        rows.push(("paramsEffectiveAt".into(), v.effective_at.to_string()));
    }
    rows.push(("treasury".into(), hex(&g.treasury)));
    rows.push(("owner".into(), hex(&g.owner)));
    rows.push(("paused".into(), g.paused.to_string()));
    for (token, allowed) in &g.allowed_tokens {
        rows.push((format!("tokenAllowed:{}", hex(token)), allowed.to_string()));
    }
    for (name, value) in rows {
        sqlx::query(
            "INSERT INTO params (name, value, block_number) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, block_number = excluded.block_number",
        )
        .bind(name)
        .bind(value)
        .bind(g.block as i64)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
