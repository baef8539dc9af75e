//! The one parse of a fleet file: yaml-rust2's events built straight into JSON values
//! (`serde_json::Value`, what the typed reading deserializes and ext.json is made of), plain
//! scalars resolved by the YAML 1.2 core schema, mapping keys as text. The top-level mapping is
//! handed over a section at a time, and the `apps` list an app at a time, so a fleet of 100k apps
//! is never held as one tree.
//!
//! A file this reader does not take as it is — a duplicate key, a tag, a merge key at the top, a
//! key that is not text, an integer beyond 64 bits, a number JSON cannot hold, more than one
//! document — goes to the careful path in `load`, which indexes every position and then reads the
//! whole document with [`whole`]: the same events, tags read as serde_yaml read them (the core
//! schema's `!!str`, `!!int`… resolved, others dropped or made text: see [`TagRead`]), and a key
//! that is not text or a number JSON cannot hold refused with its line:col. yaml-rust2 is the only
//! YAML library minifleet reads with.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use serde_json::map::Entry;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::Mapping;
use super::aliases::Copies;
use super::locate::{ReadError, SyntaxError, line_col};
use super::path::{Seg, YamlPath};
use super::scalar::{self, Resolved};

/// Where the parts of a fleet file go, in file order.
pub(crate) trait Sink {
    /// A top-level key and its value (`apps` too, when the reader did not stream it: not a list,
    /// or a list with an anchor).
    fn section(&mut self, key: String, value: Value);
    /// The next item of the top-level `apps` list.
    fn app(&mut self, item: Value);
    /// About how many items the `apps` list holds (from the size of the first ones), so what
    /// collects them can be sized once; said at most once, after [`SAMPLE`] apps.
    fn expect_apps(&mut self, _count: usize) {}
}

/// After this many apps, the list's length is estimated.
const SAMPLE: usize = 512;

/// The most apps an estimate says: a capacity beyond this is only grown into.
const MOST_EXPECTED: usize = 1 << 20;

/// What one parse gave.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// The document was a mapping: every part went to the sink.
    Streamed,
    /// The document is not a mapping; nothing went to the sink.
    Whole(Value),
    /// Something only the careful path reads or reports right; start over there (the sink may
    /// have been given part of the file).
    Careful,
}

/// Parses `text`, handing its sections and apps to `sink`; refuses a file whose aliases copy more
/// than [`super::aliases`] allows before making the copy.
pub(crate) fn parse(text: &str, sink: &mut dyn Sink) -> Result<Parsed, ReadError> {
    let mut builder = Builder::new(text, Some(sink));
    builder.run()?;
    Ok(match builder.whole {
        _ if builder.careful => Parsed::Careful,
        _ if builder.streamed => Parsed::Streamed,
        Some(value) => Parsed::Whole(value),
        None => Parsed::Careful,
    })
}

/// The careful path's read: the whole document as one value (`null` for an empty file), tags read
/// as serde_yaml read them; a key that is not text, a number JSON cannot hold, a scalar its core
/// tag does not fit or a second document refused at its line:col and YAML path. (Duplicate keys
/// were refused before, by the index.)
pub(crate) fn whole(text: &str) -> Result<Value, ReadError> {
    let mut builder = Builder::new(text, None);
    builder.run()?;
    Ok(builder.whole.unwrap_or(Value::Null))
}

/// A node still open, with its anchor (0: none).
enum Open {
    /// The top-level mapping, streamed: the key whose value comes next.
    Top(Option<String>),
    /// The top-level `apps` list, streamed.
    Apps,
    Seq(Vec<Value>, usize),
    /// The entries so far and the key whose value comes next.
    Map(Mapping, Option<String>, usize),
}

struct Builder<'s> {
    /// Where streamed parts go; `None`: the whole document is built (the careful path).
    sink: Option<&'s mut dyn Sink>,
    stack: Vec<Open>,
    anchors: HashMap<usize, Value>,
    /// Top-level keys seen, to catch one written twice.
    top_keys: HashSet<String>,
    /// The document, when it is not streamed.
    whole: Option<Value>,
    streamed: bool,
    /// Streaming met what only the careful path reads.
    careful: bool,
    text: &'s str,
    /// Where the event being built starts (none before the first).
    mark: Option<Marker>,
    /// Where the streamed `apps` list starts, and how many apps it handed over so far.
    apps: Option<(usize, usize)>,
}

impl<'s> Builder<'s> {
    fn new(text: &'s str, sink: Option<&'s mut dyn Sink>) -> Builder<'s> {
        Builder {
            sink,
            stack: Vec::new(),
            anchors: HashMap::new(),
            top_keys: HashSet::new(),
            whole: None,
            streamed: false,
            careful: false,
            text,
            mark: None,
            apps: None,
        }
    }

    /// Builds the document from the parser's events, until the end or (streaming) until the
    /// careful path must take over.
    fn run(&mut self) -> Result<(), ReadError> {
        let mut parser = Parser::new_from_str(self.text);
        let mut copies = Copies::default();
        let mut documents = 0;
        loop {
            let (event, marker) = parser.next_token().map_err(|e| SyntaxError::from(&e))?;
            self.mark = Some(marker);
            copies.event(&event, &marker)?;
            let step = match event {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 && self.sink.is_none() {
                        return Err(self.refuse(
                            "a fleet file holds one YAML document; a second one starts here",
                        ));
                    }
                    (documents == 1).then_some(())
                }
                Event::Nothing | Event::StreamStart | Event::DocumentEnd => Some(()),
                Event::Scalar(text, style, anchor, tag) => {
                    match self.scalar(text, style, tag.as_ref())? {
                        Some(value) => self.node(value, anchor)?,
                        None => None,
                    }
                }
                Event::SequenceStart(anchor, tag) => self
                    .container_tag(tag.as_ref())
                    .and_then(|()| self.open_seq(anchor)),
                Event::MappingStart(anchor, tag) => self
                    .container_tag(tag.as_ref())
                    .and_then(|()| self.open_map(anchor)),
                Event::SequenceEnd | Event::MappingEnd => self.close()?,
                Event::Alias(id) => match self.anchors.get(&id).cloned() {
                    Some(value) => self.node(value, 0)?,
                    // Its anchor's node has not ended: the alias is inside it.
                    None if self.building_whole() => {
                        return Err(self.refuse(
                            "an alias is inside the node its anchor names (the node would hold \
                             itself): write this value out",
                        ));
                    }
                    None => None,
                },
            };
            if step.is_none() {
                if self.building_whole() {
                    return Err(self.refuse("this part of the document cannot be read"));
                }
                self.careful = true;
                return Ok(());
            }
        }
        Ok(())
    }

    /// Where the event being built starts (a character index).
    fn at(&self) -> usize {
        self.mark.as_ref().map_or(0, Marker::index)
    }

    /// Whether the whole document is built (the careful path), not streamed.
    fn building_whole(&self) -> bool {
        self.sink.is_none()
    }

    /// A problem at the event being built, with its place (see [`Builder::place`]).
    fn refuse(&self, message: impl Into<String>) -> ReadError {
        let (path, app) = self.place();
        ReadError::Syntax(SyntaxError {
            line_col: self.mark.as_ref().map_or((1, 1), line_col),
            message: message.into(),
            path,
            app,
        })
    }

    /// Where the node being built goes, from what is open: its YAML path (a mapping's own when
    /// the node is one of its keys, or inside one), and inside `apps[i]` the app's name when it
    /// was read already. Only a refusal asks, so building never tracks a path.
    fn place(&self) -> (YamlPath, Option<String>) {
        let mut segs = Vec::new();
        for open in &self.stack {
            match open {
                Open::Top(Some(key)) | Open::Map(_, Some(key), _) => {
                    segs.push(Seg::Key(key.clone()));
                }
                Open::Seq(items, _) => segs.push(Seg::Index(items.len())),
                Open::Apps => segs.push(Seg::Index(self.apps.map_or(0, |(_, count)| count))),
                Open::Top(None) | Open::Map(_, None, _) => break,
            }
        }
        let app = match (segs.as_slice(), self.stack.get(2)) {
            ([Seg::Key(apps), Seg::Index(_), ..], Some(Open::Map(item, ..))) if apps == "apps" => {
                item.get("name").and_then(Value::as_str).map(str::to_owned)
            }
            _ => None,
        };
        (YamlPath::from_segs(segs), app)
    }

    /// A key the same as one before it in its mapping, once read as text.
    fn duplicate(&self, key: &str) -> ReadError {
        self.refuse(format!(
            "duplicate key `{key}`: keys are read as text, and this one is the same as one \
             before it in its mapping"
        ))
    }

    /// Whether a document was read already (a second one is the careful path's to refuse).
    fn done(&self) -> bool {
        self.streamed || self.whole.is_some()
    }

    /// A tag on a mapping or sequence changes nothing, as with serde_yaml (a local one it kept
    /// beside the node, which every reader looked through); `None`: streaming leaves a tag to the
    /// careful path.
    fn container_tag(&self, tag: Option<&yaml_rust2::parser::Tag>) -> Option<()> {
        match tag {
            Some(_) if !self.building_whole() => None,
            _ => Some(()),
        }
    }

    fn open_map(&mut self, anchor: usize) -> Option<()> {
        let open = match self.stack.last() {
            None if self.done() => return None,
            None if self.building_whole() => Open::Map(Mapping::new(), None, anchor),
            // An anchored top (never streamed: an alias could copy it) is the careful path's.
            None if anchor != 0 => return None,
            None => Open::Top(None),
            Some(_) => Open::Map(Mapping::new(), None, anchor),
        };
        self.stack.push(open);
        Some(())
    }

    fn open_seq(&mut self, anchor: usize) -> Option<()> {
        let open = match self.stack.last() {
            None if self.done() => return None,
            Some(Open::Top(Some(key))) if anchor == 0 && key == "apps" => {
                self.apps = Some((self.at(), 0));
                Open::Apps
            }
            _ => Open::Seq(Vec::new(), anchor),
        };
        self.stack.push(open);
        Some(())
    }

    /// A mapping key as text; `None` (streaming: the careful path's) for one that is not text.
    /// A key YAML reads as a number, a boolean or null is refused, as the typed reading of every
    /// section refused it when the tree was serde_yaml's (`labels: {1: gold}`: "invalid type:
    /// integer `1`, expected a string", with the help to quote it).
    fn key(&self, value: Value) -> Result<Option<String>, ReadError> {
        if let Value::String(text) = value {
            return Ok(Some(text));
        }
        if !self.building_whole() {
            return Ok(None);
        }
        Err(self.refuse(match value {
            Value::Number(_) => format!(
                "the key `{value}` is a number, and keys are text: YAML reads bare digits as a \
                 number, so quote it (`\"{value}\"`)"
            ),
            Value::Bool(_) => {
                format!(
                    "the key `{value}` is a boolean, and keys are text: quote it (`\"{value}\"`)"
                )
            }
            Value::Null => {
                "a key is empty (null), and keys are text: write the key's name".to_owned()
            }
            _ => "a mapping key must be text, not a list or a mapping".to_owned(),
        }))
    }

    /// Adds a finished node to what is open; `Ok(None)` where the careful path must take over.
    fn node(&mut self, value: Value, anchor: usize) -> Result<Option<()>, ReadError> {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let done = self.done();
        let whole = self.building_whole();
        let expects_key = matches!(
            self.stack.last(),
            Some(Open::Top(None) | Open::Map(_, None, _))
        );
        let key = if expects_key {
            match self.key(value.clone())? {
                Some(key) => Some(key),
                None => return Ok(None),
            }
        } else {
            None
        };
        match (self.stack.last_mut(), key) {
            (None, _) if done => return Ok(None),
            (None, _) => self.whole = Some(value),
            (Some(Open::Seq(items, _)), _) => items.push(value),
            (Some(Open::Apps), _) => {
                if let Some(sink) = self.sink.as_mut() {
                    sink.app(value);
                }
                self.count_app();
            }
            (Some(Open::Top(slot @ None)), Some(key)) => {
                if key == "<<" || !self.top_keys.insert(key.clone()) {
                    return Ok(None);
                }
                *slot = Some(key);
            }
            (Some(Open::Top(slot @ Some(_))), _) => {
                let Some(key) = slot.take() else {
                    return Ok(None);
                };
                if let Some(sink) = self.sink.as_mut() {
                    sink.section(key, value);
                }
            }
            (Some(Open::Map(_, slot @ None, _)), Some(key)) => *slot = Some(key),
            (Some(Open::Map(map, slot @ Some(_), _)), _) => {
                let Some(key) = slot.take() else {
                    return Ok(None);
                };
                match map.entry(key) {
                    // On the careful path, only those the position index cannot see: an alias
                    // used as a key.
                    Entry::Occupied(entry) if whole => {
                        let key = entry.key().clone();
                        return Err(self.duplicate(&key));
                    }
                    Entry::Occupied(_) => return Ok(None),
                    Entry::Vacant(entry) => {
                        entry.insert(value);
                    }
                }
            }
            (Some(Open::Top(None) | Open::Map(_, None, _)), None) => return Ok(None),
        }
        Ok(Some(()))
    }

    /// Counts an app handed over; after [`SAMPLE`] of them, tells the sink how many the rest of
    /// the text holds at the same size.
    fn count_app(&mut self) {
        let at = self.at();
        let Some((start, count)) = self.apps.as_mut() else {
            return;
        };
        *count += 1;
        if *count == SAMPLE && at > *start {
            let per_app = (at - *start) / SAMPLE;
            let rest = self.text.chars().count().saturating_sub(at);
            let expected = SAMPLE + rest / per_app.max(1);
            if let Some(sink) = self.sink.as_mut() {
                sink.expect_apps(expected.min(MOST_EXPECTED));
            }
        }
    }

    fn close(&mut self) -> Result<Option<()>, ReadError> {
        let Some(open) = self.stack.pop() else {
            return Ok(None);
        };
        Ok(match open {
            Open::Top(None) => {
                self.streamed = true;
                Some(())
            }
            Open::Apps => match self.stack.last_mut() {
                Some(Open::Top(key)) => key.take().map(|_| ()),
                _ => None,
            },
            Open::Seq(items, anchor) => self.node(Value::Array(items), anchor)?,
            Open::Map(map, None, anchor) => self.node(Value::Object(map), anchor)?,
            Open::Top(Some(_)) | Open::Map(_, Some(_), _) => None,
        })
    }

    /// A scalar's value; `Ok(None)` (streaming) where the careful path must take over: a tag, an
    /// integer beyond 64 bits, a number JSON cannot hold.
    fn scalar(
        &self,
        text: String,
        style: TScalarStyle,
        tag: Option<&yaml_rust2::parser::Tag>,
    ) -> Result<Option<Value>, ReadError> {
        if tag.is_some() && !self.building_whole() {
            return Ok(None);
        }
        let resolved = scalar::resolve(text, style, tag);
        match resolved {
            Resolved::Value(value) => Ok(Some(value)),
            _ if !self.building_whole() => Ok(None),
            Resolved::NotOfTag { text, tag } => {
                Err(self.refuse(format!("`{text}` is not what its tag `!!{tag}` says")))
            }
            // Not rounded to a float: a 20-digit id would reach the platform changed.
            Resolved::Wide(text) => Err(self.refuse(format!(
                "the integer `{text}` does not fit in 64 bits (from {} to {}); quote it to mean \
                 the text",
                i64::MIN,
                u64::MAX
            ))),
            Resolved::NotFinite(text) => Err(self.refuse(format!(
                "`{text}` is not a number a fleet file can hold; quote it to mean the text"
            ))),
        }
    }
}

/// Hands a document read whole (by the careful path) to `sink` as [`parse`] would; a document
/// that is not a mapping comes back.
pub(crate) fn feed(doc: Value, sink: &mut dyn Sink) -> Option<Value> {
    let Value::Object(top) = doc else {
        return Some(doc);
    };
    top.into_iter()
        .for_each(|(key, value)| sink.section(key, value));
    None
}
