//! The one parse of a fleet file: yaml-rust2's events built straight into `serde_yaml::Value`s,
//! plain scalars resolved as serde_yaml resolves them (YAML 1.2 core schema). The top-level
//! mapping is handed over a section at a time, and the `apps` list an app at a time, so a fleet of
//! 100k apps is never held as one tree. A file this reader does not take as it is — a duplicate
//! key, a tag, a merge key at the top, an integer beyond 64 bits, more than one document — goes to
//! the careful path in `load`, which parses with serde_yaml and indexes every position.

use std::collections::{HashMap, HashSet};

use serde_yaml::mapping::Entry;
use serde_yaml::{Mapping, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::aliases::Copies;
use super::locate::{ReadError, SyntaxError};

/// Where the parts of a fleet file go, in file order.
pub(crate) trait Sink {
    /// A top-level key and its value (`apps` too, when the reader did not stream it: not a list,
    /// or a list with an anchor).
    fn section(&mut self, key: Value, value: Value);
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
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        sink,
        stack: Vec::new(),
        anchors: HashMap::new(),
        top_keys: HashSet::new(),
        whole: None,
        streamed: false,
        text,
        at: 0,
        apps: None,
    };
    let mut copies = Copies::default();
    let mut documents = 0;
    loop {
        let (event, marker) = parser.next_token().map_err(|e| SyntaxError::from(&e))?;
        builder.at = marker.index();
        copies.event(&event, &marker)?;
        let step = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                (documents == 1).then_some(())
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => Some(()),
            Event::Scalar(text, style, anchor, None) => {
                scalar(text, style).and_then(|v| builder.node(v, anchor))
            }
            Event::SequenceStart(anchor, None) => builder.open_seq(anchor),
            Event::MappingStart(anchor, None) => builder.open_map(anchor),
            Event::Scalar(.., Some(_))
            | Event::SequenceStart(_, Some(_))
            | Event::MappingStart(_, Some(_)) => None,
            Event::SequenceEnd | Event::MappingEnd => builder.close(),
            Event::Alias(id) => builder
                .anchors
                .get(&id)
                .cloned()
                .and_then(|v| builder.node(v, 0)),
        };
        if step.is_none() {
            return Ok(Parsed::Careful);
        }
    }
    Ok(match builder.whole {
        _ if builder.streamed => Parsed::Streamed,
        Some(value) => Parsed::Whole(value),
        None => Parsed::Careful,
    })
}

/// A node still open, with its anchor (0: none).
enum Open {
    /// The top-level mapping, streamed: the key whose value comes next.
    Top(Option<Value>),
    /// The top-level `apps` list, streamed.
    Apps,
    Seq(Vec<Value>, usize),
    /// The entries so far and the key whose value comes next.
    Map(Mapping, Option<Value>, usize),
}

struct Builder<'s> {
    sink: &'s mut dyn Sink,
    stack: Vec<Open>,
    anchors: HashMap<usize, Value>,
    /// Top-level keys seen, to catch one written twice.
    top_keys: HashSet<Value>,
    /// The document, when it is not a mapping.
    whole: Option<Value>,
    streamed: bool,
    text: &'s str,
    /// Where the event being built starts (a character index).
    at: usize,
    /// Where the streamed `apps` list starts, and how many apps it handed over so far.
    apps: Option<(usize, usize)>,
}

impl Builder<'_> {
    /// Whether a document was read already (a second one is the careful path's to refuse).
    fn done(&self) -> bool {
        self.streamed || self.whole.is_some()
    }

    fn open_map(&mut self, anchor: usize) -> Option<()> {
        let open = match self.stack.last() {
            None if anchor != 0 || self.done() => return None,
            None => Open::Top(None),
            Some(_) => Open::Map(Mapping::new(), None, anchor),
        };
        self.stack.push(open);
        Some(())
    }

    fn open_seq(&mut self, anchor: usize) -> Option<()> {
        let open = match self.stack.last() {
            None if self.done() => return None,
            Some(Open::Top(Some(key))) if anchor == 0 && key.as_str() == Some("apps") => {
                self.apps = Some((self.at, 0));
                Open::Apps
            }
            _ => Open::Seq(Vec::new(), anchor),
        };
        self.stack.push(open);
        Some(())
    }

    /// Adds a finished node to what is open; `None` where the careful path must take over.
    fn node(&mut self, value: Value, anchor: usize) -> Option<()> {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        let done = self.done();
        match self.stack.last_mut() {
            None if done => return None,
            None => self.whole = Some(value),
            Some(Open::Seq(items, _)) => items.push(value),
            Some(Open::Apps) => {
                self.sink.app(value);
                self.count_app();
            }
            Some(Open::Top(key @ None)) => {
                if value.as_str() == Some("<<") || !self.top_keys.insert(value.clone()) {
                    return None;
                }
                *key = Some(value);
            }
            Some(Open::Top(key @ Some(_))) => {
                let key = key.take()?;
                self.sink.section(key, value);
            }
            Some(Open::Map(_, key @ None, _)) => *key = Some(value),
            Some(Open::Map(map, key @ Some(_), _)) => match map.entry(key.take()?) {
                Entry::Occupied(_) => return None,
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
            },
        }
        Some(())
    }

    /// Counts an app handed over; after [`SAMPLE`] of them, tells the sink how many the rest of
    /// the text holds at the same size.
    fn count_app(&mut self) {
        let Some((start, count)) = self.apps.as_mut() else {
            return;
        };
        *count += 1;
        if *count == SAMPLE && self.at > *start {
            let per_app = (self.at - *start) / SAMPLE;
            let rest = self.text.chars().count().saturating_sub(self.at);
            let expected = SAMPLE + rest / per_app.max(1);
            self.sink.expect_apps(expected.min(MOST_EXPECTED));
        }
    }

    fn close(&mut self) -> Option<()> {
        match self.stack.pop()? {
            Open::Top(None) => {
                self.streamed = true;
                Some(())
            }
            Open::Apps => match self.stack.last_mut() {
                Some(Open::Top(key)) => key.take().map(|_| ()),
                _ => None,
            },
            Open::Seq(items, anchor) => self.node(Value::Sequence(items), anchor),
            Open::Map(map, None, anchor) => self.node(Value::Mapping(map), anchor),
            Open::Top(Some(_)) | Open::Map(_, Some(_), _) => None,
        }
    }
}

/// A scalar's value: quoted and block scalars are strings, plain ones are resolved.
fn scalar(text: String, style: TScalarStyle) -> Option<Value> {
    if style != TScalarStyle::Plain {
        return Some(Value::String(text));
    }
    resolve_plain(text)
}

/// serde_yaml's resolution of a plain scalar: null, boolean, integer, float, else string.
/// `None` for an integer that fits only in 128 bits (serde_yaml's own business).
fn resolve_plain(text: String) -> Option<Value> {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Some(Value::String(text));
    }
    if let Some(n) = unsigned(&text, u64::from_str_radix) {
        return Some(Value::Number(Number::from(n)));
    }
    if let Some(n) = negative(&text, i64::from_str_radix) {
        return Some(Value::Number(Number::from(n)));
    }
    if unsigned(&text, u128::from_str_radix).is_some()
        || negative(&text, i128::from_str_radix).is_some()
    {
        return None;
    }
    if !leading_zero_digits(&text) {
        if let Some(f) = float(&text) {
            return Some(Value::Number(Number::from(f)));
        }
    }
    Some(Value::String(text))
}

/// A radix prefix and its digits (`0x…`, `0o…`, `0b…`), the digits not signed themselves.
fn radix(text: &str) -> Option<(&str, u32)> {
    [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| Some((text.strip_prefix(prefix)?, radix)))
        .filter(|(digits, _)| !digits.starts_with(['+', '-']))
}

/// `T::from_str_radix`.
type FromRadix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

/// A non-negative integer: optional `+`, then a radix prefix or decimal digits.
fn unsigned<T>(text: &str, from_radix: FromRadix<T>) -> Option<T> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Some((digits, r)) = radix(unsigned) {
        if let Ok(n) = from_radix(digits, r) {
            return Some(n);
        }
    }
    if unsigned.starts_with(['+', '-']) || leading_zero_digits(text) {
        return None;
    }
    from_radix(unsigned, 10).ok()
}

/// A negative integer: `-`, then a radix prefix or decimal digits.
fn negative<T>(text: &str, from_radix: FromRadix<T>) -> Option<T> {
    let rest = text.strip_prefix('-')?;
    if let Some((digits, r)) = radix(rest) {
        if let Ok(n) = from_radix(&format!("-{digits}"), r) {
            return Some(n);
        }
    }
    if leading_zero_digits(text) {
        return None;
    }
    from_radix(text, 10).ok()
}

/// Leading zeros followed by digits: a string in YAML 1.2 (`0123`).
fn leading_zero_digits(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A float, `.inf` and `.nan` spelled as YAML spells them.
fn float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    match (unsigned, text) {
        (".inf" | ".Inf" | ".INF", _) => return Some(f64::INFINITY),
        (_, "-.inf" | "-.Inf" | "-.INF") => return Some(f64::NEG_INFINITY),
        (_, ".nan" | ".NaN" | ".NAN") => return Some(f64::NAN),
        _ => {}
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Hands a document read whole (by the careful path) to `sink` as [`parse`] would; a document
/// that is not a mapping comes back.
pub(crate) fn feed(doc: Value, sink: &mut dyn Sink) -> Option<Value> {
    let Value::Mapping(top) = doc else {
        return Some(doc);
    };
    top.into_iter()
        .for_each(|(key, value)| sink.section(key, value));
    None
}
