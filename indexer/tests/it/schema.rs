//! The tables as `rows` declares them (one `table!` each) against a freshly migrated database:
//! every declared column exists with its declared type, not null, the key is the primary key, and
//! the table has no column the declaration lacks. The migrations are history, never edited, and
//! the declarations are the code: here they cannot drift apart unnoticed.

use openlease_indexer::{
    rows::{Entity, Lease, SqlType},
    store::Store,
};
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::{
    both_backends,
    util::{Db, fresh_db},
};

/// The store's own tables (cursor, reorg window, undo log, events), the alerts' (subscriptions,
/// outbox) and the providers' checked metadata, written by hand rather than declared as rows, and sqlx's record of the migrations
/// applied.
const STORE_TABLES: [&str; 11] = [
    "_sqlx_migrations",
    "cursor",
    "blocks",
    "undo",
    "events",
    "retractions",
    "alert_subscriptions",
    "alert_deliveries",
    "alert_levels",
    "alert_cursor",
    "provider_metadata",
];

/// A column as the database reports it.
#[derive(Debug)]
struct Column {
    name: String,
    /// Its type as declared (SQLite) or named (PostgreSQL, lowercase).
    sql_type: String,
    not_null: bool,
}

/// What `E` declares: each column and its SQL type, key columns first.
fn declared<E: Entity>() -> Vec<(&'static str, SqlType)> {
    assert_eq!(E::COLUMNS.len(), E::SQL_TYPES.len(), "{}: a type per column", E::TABLE);
    E::COLUMNS.iter().copied().zip(E::SQL_TYPES.iter().copied()).collect()
}

async fn columns(pool: &AnyPool, db: Db, table: &str) -> Vec<Column> {
    let rows = match db {
        Db::Sqlite => {
            let sql = format!("SELECT name, type, \"notnull\" FROM pragma_table_info('{table}') ORDER BY cid");
            sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await.unwrap()
        }
        Db::Postgres => sqlx::query(
            "SELECT column_name::text, data_type::text, CAST(CASE is_nullable WHEN 'NO' THEN 1 ELSE 0 END AS BIGINT) \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    rows.iter()
        .map(|row| Column { name: row.get(0), sql_type: row.get(1), not_null: row.get::<i64, _>(2) != 0 })
        .collect()
}

/// The primary key's columns, in order.
async fn primary_key(pool: &AnyPool, db: Db, table: &str) -> Vec<String> {
    let rows = match db {
        Db::Sqlite => {
            let sql = format!("SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk");
            sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await.unwrap()
        }
        Db::Postgres => sqlx::query(
            "SELECT k.column_name::text FROM information_schema.table_constraints t \
             JOIN information_schema.key_column_usage k ON k.constraint_schema = t.constraint_schema \
             AND k.constraint_name = t.constraint_name AND k.table_name = t.table_name \
             WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = current_schema() AND t.table_name = $1 \
             ORDER BY k.ordinal_position",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    rows.iter().map(|row| row.get(0)).collect()
}

async fn tables(pool: &AnyPool, db: Db) -> Vec<String> {
    let sql = match db {
        Db::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        Db::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    sqlx::query(sql).fetch_all(pool).await.unwrap().iter().map(|row| row.get(0)).collect()
}

/// How the database's `table` differs from `declared` (its first `key_columns` the key): a line
/// per difference, none when they agree.
fn drift(
    table: &str,
    declared: &[(&str, SqlType)],
    key_columns: usize,
    found: &[Column],
    key: &[String],
) -> Vec<String> {
    let mut drift = Vec::new();
    for (name, sql_type) in declared {
        match found.iter().find(|c| c.name == *name) {
            None => drift.push(format!(
                "{table}.{name} is declared but no migration makes it (a new migration: \
                 ALTER TABLE {table} ADD COLUMN {name} {} NOT NULL DEFAULT …)",
                sql_type.as_str()
            )),
            Some(c) if !c.sql_type.eq_ignore_ascii_case(sql_type.as_str()) => {
                drift.push(format!("{table}.{name} is {} in the database, declared {}", c.sql_type, sql_type.as_str()))
            }
            // SQLite lets a primary key that is not an INTEGER hold NULL: the key is checked below.
            Some(c) if !c.not_null && !declared[..key_columns].iter().any(|(k, _)| k == name) => {
                drift.push(format!("{table}.{name} may be NULL in the database"))
            }
            Some(_) => {}
        }
    }
    for c in found.iter().filter(|c| !declared.iter().any(|(name, _)| *name == c.name)) {
        drift.push(format!("{table}.{} ({}) is in the database but not declared in rows.rs", c.name, c.sql_type));
    }
    let declared_key: Vec<&str> = declared[..key_columns].iter().map(|(name, _)| *name).collect();
    if key != declared_key.as_slice() {
        drift.push(format!("the primary key of {table} is {key:?} in the database, declared {declared_key:?}"));
    }
    drift
}

async fn drift_of<E: Entity>(pool: &AnyPool, db: Db) -> Vec<String> {
    let (found, key) = (columns(pool, db, E::TABLE).await, primary_key(pool, db, E::TABLE).await);
    drift(E::TABLE, &declared::<E>(), E::KEY_COLUMNS, &found, &key)
}

both_backends!(the_migrations_make_the_declared_tables, declared_tables);
async fn declared_tables(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let store = Store::connect(&url).await.unwrap();
    let pool = store.pool();

    let (mut drifts, mut declared_tables) = (Vec::new(), Vec::new());
    macro_rules! check {
        ($field:ident, $ty:ty) => {
            drifts.extend(drift_of::<$ty>(pool, db).await);
            declared_tables.push(<$ty as Entity>::TABLE);
        };
    }
    openlease_indexer::for_each_table!(check);
    assert!(drifts.is_empty(), "the migrations and rows.rs disagree:\n{}", drifts.join("\n"));
    assert_eq!(declared_tables.len(), 13, "{declared_tables:?}");

    // Every table the migrations leave is declared, or one of the store's own.
    let undeclared: Vec<String> = tables(pool, db)
        .await
        .into_iter()
        .filter(|t| !declared_tables.contains(&t.as_str()) && !STORE_TABLES.contains(&t.as_str()))
        .collect();
    assert!(undeclared.is_empty(), "tables no `table!` declares: {undeclared:?}");

    // The check sees drift: a declared column no migration makes, a column the declaration lost,
    // a type changed, a key changed.
    let mut declared = declared::<Lease>();
    declared.push(("not_migrated", SqlType::BigInt));
    declared.retain(|(column, _)| *column != "stopped_at");
    let offer_id = declared.iter_mut().find(|(column, _)| *column == "offer_id").unwrap();
    offer_id.1 = SqlType::Text;
    let (found, key) = (columns(pool, db, "leases").await, primary_key(pool, db, "leases").await);
    let seen = drift("leases", &declared, 2, &found, &key);
    let expected = [
        "leases.offer_id is ",
        "leases.not_migrated is declared but no migration makes it",
        "leases.stopped_at (BIGINT) is in the database but not declared",
        "the primary key of leases is [\"lease_id\"] in the database, declared [\"lease_id\", \"offer_id\"]",
    ];
    assert_eq!(seen.len(), expected.len(), "{seen:#?}");
    for e in expected {
        assert!(seen.iter().any(|line| line.to_lowercase().starts_with(&e.to_lowercase())), "{e}: {seen:#?}");
    }
    assert!(seen[0].ends_with("declared TEXT"), "{seen:#?}");
}
