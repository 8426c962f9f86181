// `sqlx::migrate!` embeds `migrations/` at compile time: a migration added without a change to the
// Rust sources must still rebuild the crate, or the binary would start without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
