//! A mirror written before amounts were 78 digits wide (`0009_amounts_78_digits.sql`): after the
//! migration it reads, compares and goes on ingesting as one written at the new width.

use openlease_contracts::units::SORTABLE_AMOUNT_DIGITS;
use openlease_indexer::{
    rows::{Entity, Provider, Stake, Value, bind_all},
    store::Store,
};
use sqlx::{AssertSqlSafe, Row};

use crate::{
    both_backends,
    util::{Db, Market, assert_audit_passes, fresh_db, get_json, ingestor, serve_api, test_config},
};

/// The width amounts had before migration 0009 (u128's 39 digits).
const OLD_WIDTH: usize = 39;

both_backends!(a_mirror_at_the_old_width_reads_right_after_migrating, old_width);
async fn old_width(db: Db, name: &str) {
    let Some((url, _guard)) = fresh_db(db, name).await else { return };
    let mut market = Market::new(17).await;
    market.random_ops(60).await;

    // A mirror as the indexer before 0009 left it: the same rows, every amount 39 digits wide,
    // and 0009 not applied.
    let before = {
        let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
        ingestor.catch_up().await.unwrap();
        drop(ingestor);
        let before = every_row(&store).await;
        let narrowed = to_old_width(&store).await;
        assert!(narrowed > 50, "the market left only {narrowed} amounts to migrate");
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 9").execute(store.pool()).await.unwrap();
        let width: i64 =
            sqlx::query("SELECT length(deposit) FROM leases").fetch_one(store.pool()).await.unwrap().get(0);
        assert_eq!(width, OLD_WIDTH as i64, "the fixture is at the old width");
        store.pool().close().await;
        before
    };

    // Reopened, it is migrated. Every row reads (an amount of another width is a corrupt row) and
    // is the row it was; the chain agrees.
    let (store, mut ingestor) = ingestor(&market, &url, test_config()).await;
    assert_eq!(every_row(&store).await, before);
    assert_audit_passes(&store, &market).await;
    let width: i64 = sqlx::query("SELECT length(deposit) FROM leases").fetch_one(store.pool()).await.unwrap().get(0);
    assert_eq!(width, SORTABLE_AMOUNT_DIGITS as i64);

    // Amounts bound by queries compare with the migrated ones as numbers.
    let base = serve_api(&store, tokio::sync::broadcast::channel(16).0).await;
    let stakes: Vec<Stake> = Store::all(store.pool()).await.unwrap();
    let largest = stakes.iter().filter(|s| s.token == market.usdc).map(|s| s.staked).max().unwrap();
    let stakers = |min: u128| stakes.iter().filter(|s| s.token == market.usdc && s.staked >= min).count();
    for min in [0, 1, largest - 1, largest, largest + 1] {
        let (status, body) = get_json(&base, &format!("/v1/providers?token={}&min_stake={min}", market.usdc)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), stakers(min), "min_stake={min}: {body}");
    }
    let mut providers: Vec<Provider> = Store::all(store.pool()).await.unwrap();
    providers.sort_by(|a, b| b.total_earned.cmp(&a.total_earned).then(a.address.cmp(&b.address)));
    assert!(providers[0].total_earned > 0, "a provider earned something: {providers:?}");
    let mut walked = Vec::new();
    let mut path = "/v1/providers?sort=earned&limit=1".to_owned();
    loop {
        let (status, body) = get_json(&base, &path).await;
        assert_eq!(status, 200, "{body}");
        walked.extend(body["data"].as_array().unwrap().iter().map(|p| p["address"].as_str().unwrap().to_owned()));
        match body["next_cursor"].as_str() {
            Some(next) => path = format!("/v1/providers?sort=earned&limit=1&cursor={next}"),
            None => break,
        }
    }
    let expected: Vec<String> = providers.iter().map(|p| p.address.to_string().to_lowercase()).collect();
    let walked: Vec<String> = walked.iter().map(|a| a.to_lowercase()).collect();
    assert_eq!(walked, expected, "pages by earnings, each provider once");

    // Ingestion goes on over the migrated rows.
    market.random_ops(30).await;
    ingestor.catch_up().await.unwrap();
    assert_audit_passes(&store, &market).await;
}

/// Every row of every table, as read.
async fn every_row(store: &Store) -> Vec<String> {
    let mut rows = Vec::new();
    macro_rules! read {
        ($field:ident, $ty:ty) => {
            let table: Vec<$ty> = Store::all(store.pool()).await.unwrap();
            rows.push(format!("{table:?}"));
        };
    }
    openlease_indexer::for_each_table!(read);
    rows
}

/// Writes every row again with its amounts as the indexer wrote them before 0009; how many
/// amounts it narrowed.
async fn to_old_width(store: &Store) -> usize {
    let mut narrowed = 0;
    macro_rules! narrow {
        ($field:ident, $ty:ty) => {
            narrowed += narrow::<$ty>(store).await;
        };
    }
    openlease_indexer::for_each_table!(narrow);
    narrowed
}

async fn narrow<E: Entity>(store: &Store) -> usize {
    let rows: Vec<E> = Store::all(store.pool()).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", E::TABLE))).execute(&mut *tx).await.unwrap();
    let placeholders: Vec<String> = (1..=E::COLUMNS.len()).map(|i| format!("${i}")).collect();
    let insert = format!("INSERT INTO {} ({}) VALUES ({})", E::TABLE, E::COLUMNS.join(", "), placeholders.join(", "));
    let mut narrowed = 0;
    for row in rows {
        // An amount is the only column of 78 digits: its last 39 are the old text.
        let values = row.values().into_iter().map(|value| match value {
            Value::Text(text) if text.len() == SORTABLE_AMOUNT_DIGITS && text.bytes().all(|b| b.is_ascii_digit()) => {
                assert!(text[..SORTABLE_AMOUNT_DIGITS - OLD_WIDTH].bytes().all(|b| b == b'0'), "a u128: {text}");
                narrowed += 1;
                Value::Text(text[SORTABLE_AMOUNT_DIGITS - OLD_WIDTH..].to_owned())
            }
            other => other,
        });
        let values: Vec<Value> = values.collect();
        bind_all(sqlx::query(AssertSqlSafe(insert.clone())), values).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    narrowed
}
