//! The migration ledger adopts edits that touched only a migration's comments (see
//! `COMMENT_ONLY_EDITS` in common/src/db.rs), so a stack volume made before such an edit still
//! starts; any other change to an applied migration is still refused.

use sha2::{Digest, Sha384};
use sqlx::migrate::Migrator;
use testkit::World;

static PRODUCT: Migrator = sqlx::migrate!("migrations/product");

/// The checksum product's first migration had before its comment was edited.
const OLD_PRODUCTS_CHECKSUM: &str = "79e4a8d545d3373467204298a45550de0a50c2ff679b78b630aef9f7b1afd44ca0ee7036b54e4250b7fa53a3699e8fdb";

async fn recorded_checksum(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SELECT encode(checksum, 'hex') FROM _sqlx_migrations WHERE version = 1")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn set_checksum(pool: &sqlx::PgPool, hex: &str) {
    sqlx::query("UPDATE _sqlx_migrations SET checksum = decode($1, 'hex') WHERE version = 1")
        .bind(hex)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_database_migrated_before_a_comment_only_edit_still_starts() {
    let world = World::new("migrations").await;
    let pool = common::db::connect(&world.database_url, "product", 2, &PRODUCT)
        .await
        .unwrap();
    // The ledger's checksum is the SHA-384 of the file, so the list of old checksums (taken
    // from the files' earlier texts) speaks the same language as sqlx.
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/product/0001_products.sql"
    ))
    .unwrap();
    let current = hex::encode(Sha384::digest(&file));
    assert_eq!(recorded_checksum(&pool).await, current);

    set_checksum(&pool, OLD_PRODUCTS_CHECKSUM).await;
    let again = common::db::connect(&world.database_url, "product", 2, &PRODUCT).await;
    assert!(again.is_ok(), "refused: {:?}", again.err());
    assert_eq!(
        recorded_checksum(&pool).await,
        current,
        "ledger adopted the edit"
    );

    // Anything else that changed an applied migration is still refused.
    set_checksum(&pool, &"00".repeat(48)).await;
    let refused = common::db::connect(&world.database_url, "product", 2, &PRODUCT).await;
    assert!(refused.is_err(), "a changed migration must be refused");
}
