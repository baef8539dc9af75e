//! The `minifleet` binary: parse the command line, run the command, exit with its code.

fn main() {
    std::process::exit(minifleet::cli::main());
}
