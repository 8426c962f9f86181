//! The database: SQLite or PostgreSQL behind one portable schema (`migrations/`). Ingestion
//! writes a batch (events, the rows they changed with the rows as they were, the block-hash
//! window and the cursor) in one transaction, so a crash leaves either the whole batch or none of
//! it. A reorg puts the recorded prior rows back: its cost is the reorg's depth.

use std::{collections::BTreeSet, path::PathBuf, str::FromStr, time::Duration};

use alloy::primitives::{Address, B256, Bytes};
use sqlx::{
    AnyConnection, AnyPool, AssertSqlSafe, PgPool, Row,
    any::{AnyPoolOptions, install_default_drivers},
    postgres::PgPoolOptions,
};

pub use crate::rows::{hex, pad};
use crate::{
    IndexerError, Result, for_each_table,
    rows::{Columns, Entity, Kind, Value, bind_all},
    state::{Market, Table},
};

/// Rows per multi-row statement: fewer round trips (PostgreSQL) and statements (SQLite).
const ROWS_PER_INSERT: usize = 500;
/// Keys per `SELECT … WHERE key IN (…)` when the working set loads rows.
const KEYS_PER_SELECT: usize = 250;
/// The PostgreSQL advisory lock that elects the single writer.
const WRITER_LOCK_KEY: i64 = 0x6f70_656e_6c65_6173; // "openleas"

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
    /// Its timestamp: the mirror's "now" (read-time deadlines, history windows).
    pub timestamp: u64,
    /// The node's head when it was applied.
    pub head: u64,
    /// The node's `safe` block.
    pub safe: u64,
    /// The node's `finalized` block.
    pub finalized: u64,
    /// The last `/v1/events` id given.
    pub seq: u64,
}

/// One marketplace log as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub block: u64,
    /// Log index in the block.
    pub log_index: u64,
    /// Its `/v1/events` id.
    pub seq: u64,
    /// The lease it is about, if any.
    pub lease_id: Option<u64>,
    pub block_hash: B256,
    pub timestamp: u64,
    pub tx_hash: B256,
    pub topics: Vec<B256>,
    pub data: Bytes,
}

/// One batch of ingestion: what to write in a single transaction.
#[derive(Debug)]
pub struct Batch<'a> {
    /// New events, in (block, log index) order.
    pub events: &'a [StoredEvent],
    /// The working set after the events: its changed rows and prior rows are written.
    pub market: &'a mut Market,
    /// New entries of the block-hash window.
    pub blocks: &'a [BlockRef],
    /// Window entries (and undo records) below this are dropped.
    pub window_floor: u64,
    /// The cursor after the batch.
    pub cursor: &'a Cursor,
    /// Every block of the batch is below the reorg window: were the commit lost, the same events
    /// would be read again.
    pub below_window: bool,
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
    /// PostgreSQL's own driver for the writer: it can `COPY`; the portable one cannot.
    native: Option<PgPool>,
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
            // A SQLite connection lives in this process: a ping before each use would only add a
            // round trip to its thread per request.
            .test_before_acquire(!sqlite)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Per connection. In WAL mode `NORMAL` still never corrupts the database nor
                        // splits a transaction: a power loss may only drop the last commits, which
                        // ingestion reads again (the cursor is in the same transactions). A page
                        // cache of 32 MiB (the default is 2) keeps a batch's pages in memory until
                        // its commit; 64 MiB took a million-event backfill's peak from 129 to
                        // 148-163 MiB for no speed the backfill needs.
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA cache_size = -32768").execute(&mut *conn).await?;
                        // Checkpoint the WAL every 64 MiB rather than every 4 MiB: a backfill
                        // writes tens of MiB per second, and each checkpoint waits on the disk.
                        sqlx::query("PRAGMA wal_autocheckpoint = 16384").execute(&mut *conn).await?;
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
        // Lazy: a process that only serves never opens it.
        let native = match backend {
            Backend::Postgres => Some(PgPoolOptions::new().max_connections(1).connect_lazy(&url)?),
            Backend::Sqlite(_) => None,
        };
        Ok(Self { pool, backend, url, native })
    }

    /// A read-only transaction that sees one state of the mirror throughout: the cursor and
    /// every table as one commit left them (PostgreSQL: repeatable read; SQLite in WAL: the
    /// snapshot taken at the first read).
    ///
    /// On PostgreSQL the snapshot opens in one statement: a request dropped between a `BEGIN` and
    /// a `SET TRANSACTION` would hand back a connection inside a transaction, and the next read on
    /// it would fail.
    pub async fn snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Postgres => self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?,
            _ => self.pool.begin().await?,
        })
    }

    /// A transaction that reads and then writes beside ingestion (alerts, subscriptions). SQLite's
    /// default `BEGIN` would fail at its first write if ingestion committed after its first read;
    /// `IMMEDIATE` takes the write lock at once and waits for it like any writer.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite(_) => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
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
        let row = sqlx::query("SELECT * FROM cursor WHERE id = 1").fetch_optional(executor).await?;
        row.map(|row| {
            let c = Columns::new(&row, "cursor");
            Ok(Cursor {
                chain_id: c.u64("chain_id")?,
                market: c.parse("market")?,
                number: c.u64("number")?,
                hash: c.parse("hash")?,
                timestamp: c.u64("timestamp")?,
                head: c.u64("head")?,
                safe: c.u64("safe")?,
                finalized: c.u64("finalized")?,
                seq: c.u64("seq")?,
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
                let c = Columns::new(row, "blocks");
                Ok(BlockRef { number: c.u64("number")?, hash: c.parse("hash")?, parent_hash: c.parse("parent_hash")? })
            })
            .collect()
    }

    /// Stored events up to and including `block`, in order.
    pub async fn events_up_to(&self, block: u64) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query("SELECT * FROM events WHERE block_number <= $1 ORDER BY block_number, log_index")
            .bind(block as i64)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_event).collect()
    }

    /// Up to `limit` stored events with an id above `seq`, in order, as `executor` sees them.
    pub async fn events_after<'e>(
        executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
        seq: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(seq as i64)
            .bind(limit as i64)
            .fetch_all(executor)
            .await?;
        rows.iter().map(read_event).collect()
    }

    /// The deepest retraction with an id above `seq` (a block: every event above it was
    /// retracted), with its id.
    pub async fn retraction_after<'e>(
        executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
        seq: u64,
    ) -> Result<Option<(u64, u64)>> {
        let row = sqlx::query(
            "SELECT seq, block_number FROM retractions WHERE seq > $1 ORDER BY block_number, seq DESC LIMIT 1",
        )
        .bind(seq as i64)
        .fetch_optional(executor)
        .await?;
        row.map(|row| {
            let c = Columns::new(&row, "retractions");
            Ok((c.u64("seq")?, c.u64("block_number")?))
        })
        .transpose()
    }

    /// Every row of `E`'s table in key order, as `executor` (a pool, or a snapshot) sees it.
    pub async fn all<'e, E: Entity>(executor: impl sqlx::Executor<'e, Database = sqlx::Any>) -> Result<Vec<E>> {
        let sql = format!("SELECT * FROM {} ORDER BY {}", E::TABLE, E::COLUMNS[..E::KEY_COLUMNS].join(", "));
        // Table and column names are the entity's constants.
        sqlx::query(AssertSqlSafe(sql)).fetch_all(executor).await?.iter().map(E::from_row).collect()
    }

    /// Every registered provider's address.
    pub async fn provider_addresses(&self) -> Result<Vec<Address>> {
        let rows = sqlx::query("SELECT address FROM providers ORDER BY address").fetch_all(&self.pool).await?;
        rows.iter().map(|row| Columns::new(row, "providers").parse("address")).collect()
    }

    /// Up to `limit` events of `lease` named by `topic0`, newest first, with an id below
    /// `before` (a page's cursor), as `executor` sees them: a page costs its rows however many
    /// events the lease has.
    pub async fn lease_events<'e>(
        executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
        lease: u64,
        topic0: B256,
        before: Option<u64>,
        limit: u64,
    ) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE lease_id = $1 AND seq < $2 AND substr(topics, 1, 32) = $3 \
             ORDER BY seq DESC LIMIT $4",
        )
        .bind(lease as i64)
        .bind(before.map_or(i64::MAX, |s| s.min(i64::MAX as u64) as i64))
        .bind(topic0.to_vec())
        .bind(limit.min(i64::MAX as u64) as i64)
        .fetch_all(executor)
        .await?;
        rows.iter().map(read_event).collect()
    }

    /// The rows of `E` (a table with a `provider` column) of `providers`, as `tx` sees them.
    pub async fn of_providers<E: Entity>(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        providers: &[Address],
    ) -> Result<Vec<E>> {
        if providers.is_empty() {
            return Ok(Vec::new());
        }
        let marks = list(self.backend == Backend::Postgres, providers.len());
        let sql = format!("SELECT * FROM {} WHERE provider IN ({marks}) ORDER BY provider", E::TABLE);
        // The table is the entity's constant; the addresses are bound.
        let query = providers.iter().fold(sqlx::query(AssertSqlSafe(sql)), |q, a| q.bind(hex(a)));
        query.fetch_all(&mut **tx).await?.iter().map(E::from_row).collect()
    }

    /// How many events are stored.
    pub async fn event_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM events").fetch_one(&self.pool).await?.try_get(0)?;
        Ok(count as u64)
    }

    /// Loads into `into` every row `wanted` (a pass over a batch) asked for and did not have.
    pub async fn load(&self, wanted: &Market, into: &mut Market) -> Result<()> {
        let postgres = self.backend == Backend::Postgres;
        let mut conn = self.pool.acquire().await?;
        macro_rules! load {
            ($field:ident, $ty:ty) => {
                let asked = wanted.$field.missing();
                if !asked.is_empty() {
                    let found = select::<$ty>(&mut conn, postgres, asked).await?;
                    into.$field.load(asked, found);
                }
            };
        }
        for_each_table!(load);
        Ok(())
    }

    /// Writes one batch in one transaction.
    pub async fn commit(&self, batch: Batch<'_>) -> Result<()> {
        match &self.native {
            Some(native) => {
                let mut tx = native.begin().await?;
                if batch.below_window {
                    // Not waiting for the WAL to reach the disk: a commit a server crash takes back
                    // is below the reorg window, so ingestion reads it again the same, from the
                    // cursor that went back with it (SQLite's `synchronous = NORMAL` likewise).
                    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
                }
                write_batch(&mut Native(&mut tx), batch).await?;
                tx.commit().await?;
            }
            None => {
                let mut tx = self.pool.begin().await?;
                write_batch(&mut Portable { tx: &mut tx, postgres: self.backend == Backend::Postgres }, batch).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Rolls the mirror back to `ancestor`: puts back, newest first, every row as it was before
    /// the blocks above it, drops their events, window and undo records, and records
    /// the retraction (id `ancestor.seq`).
    pub async fn roll_back(&self, ancestor: &Cursor) -> Result<()> {
        let postgres = self.backend == Backend::Postgres;
        // It reads the undo records before its first write: beside other writers (alerts,
        // metadata) SQLite's deferred `BEGIN` could not then take the write lock.
        let mut tx = self.begin_write().await?;
        let above = ancestor.number as i64;
        let undo = sqlx::query(
            "SELECT entity, row_key, prior FROM undo WHERE block_number > $1 ORDER BY block_number DESC, seq DESC",
        )
        .bind(above)
        .fetch_all(&mut *tx)
        .await?;
        for row in &undo {
            let c = Columns::new(row, "undo");
            let (entity, key) = (c.text("entity")?, c.text("row_key")?);
            let prior: Option<String> = row.try_get("prior")?;
            macro_rules! restore {
                ($field:ident, $ty:ty) => {
                    if entity == <$ty>::TABLE {
                        restore::<$ty>(&mut Portable { tx: &mut tx, postgres }, &key, prior.as_deref()).await?;
                        continue;
                    }
                };
            }
            for_each_table!(restore);
            return Err(IndexerError::CorruptRow { table: "undo", message: format!("unknown entity `{entity}`") });
        }
        for table in ["events", "blocks", "undo"] {
            let column = if table == "blocks" { "number" } else { "block_number" };
            // Table and column names come from the literals above.
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE {column} > $1")))
                .bind(above)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO retractions (seq, block_number) VALUES ($1, $2)")
            .bind(ancestor.seq as i64)
            .bind(above)
            .execute(&mut *tx)
            .await?;
        write_cursor(&mut Portable { tx: &mut tx, postgres }, ancestor).await?;
        tx.commit().await?;
        Ok(())
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

fn read_event(row: &sqlx::any::AnyRow) -> Result<StoredEvent> {
    let c = Columns::new(row, "events");
    let topics = c.bytes("topics")?;
    if topics.len() % 32 != 0 {
        return Err(IndexerError::CorruptRow { table: "events", message: format!("topics of {} bytes", topics.len()) });
    }
    Ok(StoredEvent {
        block: c.u64("block_number")?,
        log_index: c.u64("log_index")?,
        seq: c.u64("seq")?,
        lease_id: row.try_get::<Option<i64>, _>("lease_id")?.map(|id| id as u64),
        block_hash: c.hash("block_hash")?,
        timestamp: c.u64("block_timestamp")?,
        tx_hash: c.hash("tx_hash")?,
        topics: topics.chunks(32).map(B256::from_slice).collect(),
        data: c.bytes("data")?.into(),
    })
}

/// `($1,$2,…),(…),…` on PostgreSQL, `(?,?,…),(…),…` on SQLite: the placeholders of `rows` rows
/// of `columns` values, numbered from `first`. SQLite takes `$N` as a *named* parameter, and
/// binding names costs a scan of all of them per parameter (quadratic in the statement's width:
/// 4× slower at 500 rows); anonymous `?` are bound by position.
fn placeholders(postgres: bool, rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ",(" });
        for column in 0..columns {
            if column > 0 {
                sql.push(',');
            }
            if postgres {
                sql.push_str(&format!("${}", first + row * columns + column));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// `$1, $2, …` on PostgreSQL, `?, ?, …` on SQLite: an `IN (…)` list of `n` values.
fn list(postgres: bool, n: usize) -> String {
    placeholders(postgres, n, 1, 1).replace(['(', ')'], "")
}

/// Reads the rows of `keys`.
async fn select<E: Entity>(conn: &mut AnyConnection, postgres: bool, keys: &BTreeSet<E::Key>) -> Result<Vec<E>> {
    let keys: Vec<&E::Key> = keys.iter().collect();
    let key_columns = &E::COLUMNS[..E::KEY_COLUMNS];
    let mut rows = Vec::new();
    for chunk in keys.chunks(KEYS_PER_SELECT) {
        let list = placeholders(postgres, chunk.len(), key_columns.len(), 1);
        let sql = if key_columns.len() == 1 {
            format!("SELECT * FROM {} WHERE {} IN ({})", E::TABLE, key_columns[0], self::list(postgres, chunk.len()))
        } else {
            format!("SELECT * FROM {} WHERE ({}) IN (VALUES {list})", E::TABLE, key_columns.join(", "))
        };
        // Table and column names are the entity's constants; the keys are bound.
        let query = bind_all(sqlx::query(AssertSqlSafe(sql)), chunk.iter().flat_map(|k| E::key_values(k)));
        for row in query.fetch_all(&mut *conn).await? {
            rows.push(E::from_row(&row)?);
        }
    }
    Ok(rows)
}

/// Where a batch is written: a transaction of the portable driver, or of PostgreSQL's own, which
/// writes a large batch's events by `COPY`. The other statements are the same for both.
trait Sink {
    /// PostgreSQL's `$N` placeholders rather than SQLite's `?`.
    fn postgres(&self) -> bool;
    /// Runs `sql` (built from the schema's names and placeholders only) with `values` bound.
    async fn execute(&mut self, sql: String, values: Vec<Value>) -> Result<()>;
    async fn insert_events(&mut self, events: &[StoredEvent]) -> Result<()>;
}

struct Portable<'t> {
    tx: &'t mut Tx,
    postgres: bool,
}

impl Sink for Portable<'_> {
    fn postgres(&self) -> bool {
        self.postgres
    }

    async fn execute(&mut self, sql: String, values: Vec<Value>) -> Result<()> {
        bind_all(sqlx::query(AssertSqlSafe(sql)), values).execute(&mut **self.tx).await?;
        Ok(())
    }

    async fn insert_events(&mut self, events: &[StoredEvent]) -> Result<()> {
        insert_event_rows(self, events).await
    }
}

/// `events` as multi-row `INSERT`s: the portable way, and PostgreSQL's for a small batch.
async fn insert_event_rows(sink: &mut impl Sink, events: &[StoredEvent]) -> Result<()> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let sql =
            format!("INSERT INTO events ({EVENT_COLUMNS}) VALUES {}", placeholders(sink.postgres(), chunk.len(), 9, 1));
        let values = chunk.iter().flat_map(|e| {
            [
                Value::from(e.block),
                Value::from(e.log_index),
                Value::from(e.seq),
                e.lease_id.map_or(Value::Null(Kind::Int), Value::from),
                Value::from(&e.block_hash),
                Value::from(e.timestamp),
                Value::from(&e.tx_hash),
                Value::Bytes(e.topics.iter().flat_map(|t| t.0).collect()),
                Value::Bytes(e.data.to_vec()),
            ]
        });
        sink.execute(sql, values.collect()).await?;
    }
    Ok(())
}

/// PostgreSQL's own driver, in the batch's transaction.
struct Native<'t>(&'t mut sqlx::Transaction<'static, sqlx::Postgres>);

impl Sink for Native<'_> {
    fn postgres(&self) -> bool {
        true
    }

    async fn execute(&mut self, sql: String, values: Vec<Value>) -> Result<()> {
        let mut query = sqlx::query::<sqlx::Postgres>(AssertSqlSafe(sql));
        for value in values {
            query = match value {
                Value::Null(Kind::Int) => query.bind(None::<i64>),
                Value::Null(Kind::Text) => query.bind(None::<String>),
                Value::Int(i) => query.bind(i),
                Value::Real(r) => query.bind(r),
                Value::Text(t) => query.bind(t),
                Value::Bytes(b) => query.bind(b),
            };
        }
        query.execute(&mut **self.0).await?;
        Ok(())
    }

    /// Large batches by `COPY … FROM STDIN` in binary form; small ones as every store writes them:
    /// `COPY`'s end-of-data message, a few bytes sent after the data, waits out the server's
    /// delayed ACK (40 ms), which only a large batch earns back.
    async fn insert_events(&mut self, events: &[StoredEvent]) -> Result<()> {
        if events.len() >= COPY_AT_LEAST {
            let mut copy =
                self.0.copy_in_raw(&format!("COPY events ({EVENT_COLUMNS}) FROM STDIN (FORMAT binary)")).await?;
            copy.send(copy_binary(events)).await?;
            copy.finish().await?;
            return Ok(());
        }
        insert_event_rows(self, events).await
    }
}

/// Events per batch from which `COPY` is worth its end-of-data wait.
const COPY_AT_LEAST: usize = 1_000;

/// `events` in `COPY`'s binary form: a header, then per row its field count and each field as
/// its length and bytes (`BIGINT` as 8 bytes big-endian, `BYTEA` raw, -1 for no value), then -1.
fn copy_binary(events: &[StoredEvent]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, v: u64) {
        out.extend_from_slice(&8i32.to_be_bytes());
        out.extend_from_slice(&(v as i64).to_be_bytes());
    }
    fn bytes(out: &mut Vec<u8>, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        out.extend_from_slice(&(len as i32).to_be_bytes());
        for part in parts {
            out.extend_from_slice(part);
        }
    }
    let mut out = Vec::with_capacity(19 + events.len() * 400);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&[0; 8]);
    for e in events {
        out.extend_from_slice(&9i16.to_be_bytes());
        int(&mut out, e.block);
        int(&mut out, e.log_index);
        int(&mut out, e.seq);
        match e.lease_id {
            Some(id) => int(&mut out, id),
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        bytes(&mut out, &[e.block_hash.as_slice()]);
        int(&mut out, e.timestamp);
        bytes(&mut out, &[e.tx_hash.as_slice()]);
        let topics: Vec<&[u8]> = e.topics.iter().map(|t| t.as_slice()).collect();
        bytes(&mut out, &topics);
        bytes(&mut out, &[&e.data]);
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

const EVENT_COLUMNS: &str =
    "block_number, log_index, seq, lease_id, block_hash, block_timestamp, tx_hash, topics, data";

/// Everything a batch writes, in one transaction the caller commits.
async fn write_batch(sink: &mut impl Sink, batch: Batch<'_>) -> Result<()> {
    sink.insert_events(batch.events).await?;
    let mut undo = Vec::new();
    macro_rules! write {
        ($field:ident, $ty:ty) => {
            write_changes(sink, &mut batch.market.$field, &mut undo).await?;
        };
    }
    for_each_table!(write);
    insert_undo(sink, undo).await?;
    for block in batch.blocks {
        sink.execute(
            "INSERT INTO blocks (number, hash, parent_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (number) DO UPDATE SET hash = excluded.hash, parent_hash = excluded.parent_hash"
                .to_owned(),
            vec![
                Value::from(block.number),
                Value::Text(block.hash.to_string()),
                Value::Text(block.parent_hash.to_string()),
            ],
        )
        .await?;
    }
    for (table, column) in [("blocks", "number"), ("undo", "block_number")] {
        sink.execute(format!("DELETE FROM {table} WHERE {column} < $1"), vec![Value::from(batch.window_floor)]).await?;
    }
    write_cursor(sink, batch.cursor).await
}

/// Inserts or replaces `rows` (distinct keys).
async fn upsert<E: Entity>(sink: &mut impl Sink, rows: &[E]) -> Result<()> {
    let columns = E::COLUMNS;
    let key = &columns[..E::KEY_COLUMNS];
    let update: Vec<String> = columns[E::KEY_COLUMNS..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let conflict =
            if update.is_empty() { "NOTHING".to_owned() } else { format!("UPDATE SET {}", update.join(", ")) };
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO {conflict}",
            E::TABLE,
            columns.join(", "),
            placeholders(sink.postgres(), chunk.len(), columns.len(), 1),
            key.join(", "),
        );
        sink.execute(sql, chunk.iter().flat_map(Entity::values).collect()).await?;
    }
    Ok(())
}

async fn delete<E: Entity>(sink: &mut impl Sink, key: &E::Key) -> Result<()> {
    let postgres = sink.postgres();
    let clause: Vec<String> = E::COLUMNS[..E::KEY_COLUMNS]
        .iter()
        .enumerate()
        .map(|(i, c)| if postgres { format!("{c} = ${}", i + 1) } else { format!("{c} = ?") })
        .collect();
    let sql = format!("DELETE FROM {} WHERE {}", E::TABLE, clause.join(" AND "));
    sink.execute(sql, E::key_values(key).into_iter().collect()).await
}

/// One undo record: the table, the key and the prior row, as JSON.
type UndoRecord = (u64, &'static str, String, Option<String>);

/// Writes a table's changed rows and collects its prior rows.
async fn write_changes<E: Entity>(
    sink: &mut impl Sink,
    table: &mut Table<E>,
    undo: &mut Vec<UndoRecord>,
) -> Result<()> {
    let mut rows = Vec::new();
    for (key, row) in table.take_changes() {
        match row {
            Some(row) => rows.push(row),
            None => delete::<E>(sink, &key).await?,
        }
    }
    upsert(sink, &rows).await?;
    for (block, key, prior) in table.take_undo() {
        let key = serde_json::to_string(&key).expect("keys serialize");
        let prior = prior.map(|row| serde_json::to_string(&row).expect("rows serialize"));
        undo.push((block, E::TABLE, key, prior));
    }
    Ok(())
}

async fn insert_undo(sink: &mut impl Sink, mut undo: Vec<UndoRecord>) -> Result<()> {
    // Per block, in the order the changes were made.
    undo.sort_by_key(|u| u.0);
    let mut seq = 0u64;
    let mut last_block = None;
    let mut numbered = Vec::with_capacity(undo.len());
    for (block, entity, key, prior) in undo {
        if last_block != Some(block) {
            (seq, last_block) = (0, Some(block));
        }
        numbered.push((block, seq, entity, key, prior));
        seq += 1;
    }
    for chunk in numbered.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO undo (block_number, seq, entity, row_key, prior) VALUES {}",
            placeholders(sink.postgres(), chunk.len(), 5, 1)
        );
        let values = chunk.iter().flat_map(|(block, seq, entity, key, prior)| {
            [
                Value::from(*block),
                Value::from(*seq),
                Value::Text((*entity).to_owned()),
                Value::Text(key.clone()),
                prior.clone().map_or(Value::Null(Kind::Text), Value::Text),
            ]
        });
        sink.execute(sql, values.collect()).await?;
    }
    Ok(())
}

async fn restore<E: Entity>(sink: &mut impl Sink, key: &str, prior: Option<&str>) -> Result<()> {
    let corrupt =
        |e: serde_json::Error| IndexerError::CorruptRow { table: "undo", message: format!("{}: {e}", E::TABLE) };
    let key: E::Key = serde_json::from_str(key).map_err(corrupt)?;
    delete::<E>(sink, &key).await?;
    if let Some(prior) = prior {
        let row: E = serde_json::from_str(prior).map_err(corrupt)?;
        upsert(sink, &[row]).await?;
    }
    Ok(())
}

async fn write_cursor(sink: &mut impl Sink, c: &Cursor) -> Result<()> {
    let values: Vec<Value> = vec![
        Value::from(c.chain_id),
        Value::from(&c.market),
        Value::from(c.number),
        Value::Text(c.hash.to_string()),
        Value::from(c.timestamp),
        Value::from(c.head),
        Value::from(c.safe),
        Value::from(c.finalized),
        Value::from(c.seq),
    ];
    let sql = "INSERT INTO cursor (id, chain_id, market, number, hash, timestamp, head, safe, finalized, seq) \
               VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET chain_id = excluded.chain_id, \
               market = excluded.market, number = excluded.number, hash = excluded.hash, timestamp = excluded.timestamp, \
               head = excluded.head, safe = excluded.safe, finalized = excluded.finalized, seq = excluded.seq";
    sink.execute(sql.to_owned(), values).await
}
