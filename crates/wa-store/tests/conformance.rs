//! The conformance suite (and wa-signal's) on every backend.

mod common;

#[cfg(feature = "memory")]
mod memory {
    wa_store::store_suite!(|| Some(wa_store::Store::memory()));
}

#[cfg(feature = "sqlite")]
mod sqlite {
    wa_store::store_suite!(crate::common::sqlite);
}

#[cfg(feature = "postgres")]
mod postgres {
    wa_store::store_suite!(crate::common::postgres);
}
