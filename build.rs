//! Rebuilds the crate when a store migration changes: `sqlx::migrate!`
//! (src/store/migrate.rs) embeds src/store/migrations at compile time,
//! and cargo does not otherwise know that those files are read.

fn main() {
    println!("cargo:rerun-if-changed=src/store/migrations");
}
