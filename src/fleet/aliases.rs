//! The bound on what aliases copy: a YAML alias stands for a copy of everything its anchor holds,
//! and aliases of anchors that hold aliases multiply ("billion laughs": a few hundred bytes that
//! expand to billions of nodes). Both readers of a fleet file (the one pass in `doc`, the position
//! index of the careful path before its whole read) count every node an alias copies, from the parser's
//! events, and refuse the file before a copy would pass [`MAX_COPIED_NODES`] nodes or
//! [`MAX_COPIED_TEXT`] bytes of scalar text in all. Both count the same events the same way, so
//! both refuse a file at the same alias.

use std::collections::HashMap;

use yaml_rust2::parser::Event;
use yaml_rust2::scanner::Marker;

use super::FleetError;
use super::locate::{LineCol, line_col};

/// The most nodes all the aliases of one fleet file may copy. An alias per app of a 100k-app
/// fleet (an `ext` or an `audit` block shared by anchor) copies well under this; a "billion
/// laughs" file reaches it within a few hundred milliseconds and about 100 MB.
pub(crate) const MAX_COPIED_NODES: u64 = 1_000_000;

/// The most bytes of scalar text all the aliases of one fleet file may copy (16 MiB): a long
/// string anchored once and aliased many times is the other way to make a small file large.
pub(crate) const MAX_COPIED_TEXT: u64 = 16 << 20;

/// How much a node holds: itself and every node under it, aliases counted as the copies they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Size {
    nodes: u64,
    text: u64,
}

impl Size {
    fn plus(self, other: Size) -> Size {
        Size {
            nodes: self.nodes.saturating_add(other.nodes),
            text: self.text.saturating_add(other.text),
        }
    }
}

/// Aliases copy more than the bound allows: where the alias that would pass it is, and which
/// bound it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooManyCopies {
    /// The alias.
    pub(crate) line_col: LineCol,
    /// Whether it is the bound on scalar text (else the one on nodes).
    text: bool,
}

impl TooManyCopies {
    /// The problem as reported: the whole file, at the alias.
    pub(crate) fn to_error(&self) -> FleetError {
        let what = if self.text {
            format!("{} MiB of text", MAX_COPIED_TEXT >> 20)
        } else {
            format!("{MAX_COPIED_NODES} nodes")
        };
        FleetError {
            yaml_path: String::new(),
            app: None,
            line_col: Some(self.line_col),
            message: format!("the fleet file's aliases expand to more than {what}"),
            help: Some(help()),
        }
    }
}

fn help() -> String {
    format!(
        "every alias copies what its anchor holds, and aliases of aliases multiply; minifleet \
         reads at most {MAX_COPIED_NODES} copied nodes and {} MiB of copied text per file: write \
         what apps share once, in `defaults`",
        MAX_COPIED_TEXT >> 20
    )
}

/// Counts what aliases copy, fed the parser's events in order.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    /// The size of each anchored node, by anchor id.
    anchors: HashMap<usize, Size>,
    /// The mappings and sequences still open: their anchor (0: none) and their size so far.
    open: Vec<(usize, Size)>,
    /// Everything aliases copied so far.
    copied: Size,
}

impl Copies {
    /// Counts what the parser's next event adds; an error, and nothing counted, for an alias
    /// whose copy would pass the bound.
    pub(crate) fn event(&mut self, event: &Event, mark: &Marker) -> Result<(), TooManyCopies> {
        match event {
            Event::Scalar(text, _, anchor, _) => self.scalar(*anchor, text.len()),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => self.open(*anchor),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => self.alias(*id, line_col(mark))?,
            _ => {}
        }
        Ok(())
    }

    /// A scalar of `len` bytes, with its anchor (0: none).
    fn scalar(&mut self, anchor: usize, len: usize) {
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        self.node(
            anchor,
            Size {
                nodes: 1,
                text: len,
            },
        );
    }

    /// A mapping or a sequence starts, with its anchor (0: none).
    fn open(&mut self, anchor: usize) {
        self.open.push((anchor, Size { nodes: 1, text: 0 }));
    }

    /// The innermost open mapping or sequence ends.
    fn close(&mut self) {
        if let Some((anchor, size)) = self.open.pop() {
            self.node(anchor, size);
        }
    }

    /// An alias of anchor `id` at `line_col`: an error, and nothing counted, when its copy would
    /// pass the bound.
    fn alias(&mut self, id: usize, line_col: LineCol) -> Result<(), TooManyCopies> {
        let size = self.anchors.get(&id).copied().unwrap_or_default();
        let copied = self.copied.plus(size);
        if copied.nodes > MAX_COPIED_NODES || copied.text > MAX_COPIED_TEXT {
            let text = copied.nodes <= MAX_COPIED_NODES;
            return Err(TooManyCopies { line_col, text });
        }
        self.copied = copied;
        self.node(0, size);
        Ok(())
    }

    /// How many nodes aliases copied so far.
    #[cfg(test)]
    pub(crate) fn copied_nodes(&self) -> u64 {
        self.copied.nodes
    }

    fn node(&mut self, anchor: usize, size: Size) {
        if anchor != 0 {
            self.anchors.insert(anchor, size);
        }
        if let Some((_, parent)) = self.open.last_mut() {
            *parent = parent.plus(size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_counts_every_node_its_anchor_holds_aliases_included() {
        let mut c = Copies::default();
        c.open(1); // &a [x, y]
        c.scalar(0, 1);
        c.scalar(0, 1);
        c.close();
        c.open(2); // &b [*a, *a]
        c.alias(1, (1, 1)).unwrap();
        c.alias(1, (1, 1)).unwrap();
        c.close();
        assert_eq!(c.copied_nodes(), 6);
        c.alias(2, (1, 1)).unwrap(); // b holds 1 + 2 × 3 nodes
        assert_eq!(c.copied_nodes(), 13);
    }

    #[test]
    fn the_copy_that_would_pass_the_bound_is_refused_and_not_counted() {
        let mut c = Copies::default();
        c.open(1);
        for _ in 0..999 {
            c.scalar(0, 0);
        }
        c.close(); // 1000 nodes
        for _ in 0..1000 {
            c.alias(1, (2, 3)).unwrap();
        }
        assert_eq!(c.copied_nodes(), MAX_COPIED_NODES);
        let refused = c.alias(1, (4, 5)).unwrap_err();
        assert_eq!(refused.line_col, (4, 5));
        assert!(!refused.text);
        assert_eq!(c.copied_nodes(), MAX_COPIED_NODES);
    }

    #[test]
    fn a_long_string_copied_often_passes_the_text_bound() {
        let mut c = Copies::default();
        c.scalar(1, 1 << 20);
        let refused = (0..100).find_map(|_| c.alias(1, (1, 1)).err());
        assert!(refused.is_some_and(|r| r.text));
    }
}
