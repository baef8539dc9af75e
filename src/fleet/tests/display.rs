//! Tests: display.
