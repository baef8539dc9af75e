//! The command line: clap definitions, one file per subcommand, no business logic.

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    0
}
