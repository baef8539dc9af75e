//! The executor: observe, plan, apply under bounded concurrency, record everything in the store.
