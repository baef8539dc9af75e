//! The `minifleet` binary: parse the command line, run the command, exit with its code.

/// mimalloc: loading a fleet makes millions of small allocations; glibc's malloc spends ~40 % of
/// a 100k-app load consolidating and freeing them (BENCHMARKS.md, part (a)).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(minifleet::cli::main());
}
