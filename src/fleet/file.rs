//! Reading the fleet file: a regular file (or a pipe) of at most [`MAX_FLEET_BYTES`], read
//! without reading past the bound, UTF-8 with an optional byte order mark; a file that is not
//! UTF-8 is refused at the first byte that is not, with its offset and line:col.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::FleetError;

/// The largest fleet file minifleet reads: 256 MiB. The 100k-app fleet of the scale benchmark
/// (`benches/scale.rs`) is about 13 MiB, so this is room for some 1.9 million apps like them, and still a
/// bound on what one run holds in memory.
pub(crate) const MAX_FLEET_BYTES: u64 = 256 << 20;

/// The UTF-8 byte order mark some editors write at the start of a file.
pub(crate) const BOM: char = '\u{feff}';

/// The fleet file's text, without a leading byte order mark.
pub(crate) fn read(path: &Path) -> Result<String, FleetError> {
    let file = File::open(path).map_err(|e| cannot_read(&e))?;
    let meta = file.metadata().map_err(|e| cannot_read(&e))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(whole(
            "the fleet file is a directory".to_owned(),
            "pass the fleet file itself with `-f PATH`, e.g. `-f fleet.yaml`",
        ));
    }
    if !kind.is_file() && !is_fifo(&kind) {
        return Err(whole(
            "the fleet file is not a regular file (a device or a socket)".to_owned(),
            "pass the fleet file with `-f PATH` or set `MINIFLEET_FLEET`",
        ));
    }
    if meta.len() > MAX_FLEET_BYTES {
        return Err(too_large(Some(meta.len())));
    }
    // A pipe has no length: read one byte past the bound to know it is passed.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FLEET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot_read(&e))?;
    if bytes.len() as u64 > MAX_FLEET_BYTES {
        return Err(too_large(None));
    }
    decode(bytes)
}

/// The text of `bytes`, a leading byte order mark left out; where the first byte that is not
/// UTF-8 is, when one is not.
pub(crate) fn decode(mut bytes: Vec<u8>) -> Result<String, FleetError> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(FleetError {
            line_col: Some((1, 1)),
            ..whole(
                "the fleet file is UTF-16, not UTF-8".to_owned(),
                "save the fleet file as UTF-8 (in most editors: save with encoding, UTF-8)",
            )
        });
    }
    let skip = if bytes.starts_with(BOM.to_string().as_bytes()) {
        BOM.len_utf8()
    } else {
        0
    };
    bytes.drain(..skip);
    String::from_utf8(bytes).map_err(|e| not_utf8(e.as_bytes(), e.utf8_error(), skip))
}

/// The problem of a file that is not UTF-8 from `e.valid_up_to()` on; `skip` bytes were left
/// out before `text` (a byte order mark).
fn not_utf8(text: &[u8], e: std::str::Utf8Error, skip: usize) -> FleetError {
    let at = e.valid_up_to();
    let before = String::from_utf8_lossy(&text[..at]);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let byte = text[at];
    FleetError {
        line_col: Some((line, col)),
        ..whole(
            format!(
                "the fleet file is not UTF-8: byte 0x{byte:02x} at offset {} is not valid UTF-8",
                at + skip
            ),
            "save the fleet file as UTF-8 (in most editors: save with encoding, UTF-8); \
             YAML fleet files are UTF-8 text",
        )
    }
}

fn too_large(len: Option<u64>) -> FleetError {
    let size = match len {
        Some(len) => format!(" ({} MiB)", len.div_ceil(1 << 20)),
        None => String::new(),
    };
    whole(
        format!(
            "the fleet file is larger than {} MiB{size}",
            MAX_FLEET_BYTES >> 20
        ),
        "minifleet reads fleet files of up to 256 MiB (a fleet of 100k apps is about 13 MiB): \
         check that `-f` names the fleet file, or split the fleet into several files",
    )
}

fn cannot_read(e: &std::io::Error) -> FleetError {
    whole(
        format!("cannot read the fleet file: {}", e.kind()),
        "pass the fleet file with `-f PATH` or set `MINIFLEET_FLEET`",
    )
}

/// A problem with the whole file.
fn whole(message: String, help: &str) -> FleetError {
    FleetError {
        yaml_path: String::new(),
        app: None,
        line_col: None,
        message,
        help: Some(help.to_owned()),
    }
}

#[cfg(unix)]
fn is_fifo(kind: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(kind)
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}
