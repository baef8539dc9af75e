//! The one place that prints: data to stdout, progress and warnings to stderr.
