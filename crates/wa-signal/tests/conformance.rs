//! The in-memory store passes the conformance suite that every backend runs.

wa_signal::store_conformance_tests!(wa_signal::InMemoryStore::new);

#[test]
fn run_all_passes_for_the_in_memory_store() {
    wa_signal::conformance::run_all(wa_signal::InMemoryStore::new);
}
