//! The line:col index: every YAML path in the fleet file mapped to where its key and value start,
//! built from yaml-rust2's marked events, so problems found later in typed data can point at the
//! file.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use super::aliases::{Copies, TooManyCopies};
use super::path::{Seg, YamlPath};

/// A 1-based line and column.
pub(crate) type LineCol = (usize, usize);

/// A YAML syntax error, or a node the reader refuses, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// Where the parser stopped.
    pub(crate) line_col: LineCol,
    /// The parser's words.
    pub(crate) message: String,
    /// The refused node's path (the root for the parser's own errors, which come before any
    /// node is known).
    pub(crate) path: YamlPath,
    /// The app the refused node is in, when that app's `name` came before it.
    pub(crate) app: Option<String>,
}

impl From<&ScanError> for SyntaxError {
    fn from(e: &ScanError) -> SyntaxError {
        SyntaxError {
            line_col: line_col(e.marker()),
            message: e.info().to_owned(),
            path: YamlPath::root(),
            app: None,
        }
    }
}

/// Why a fleet file's text cannot be read as a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReadError {
    /// It is not valid YAML.
    Syntax(SyntaxError),
    /// Its aliases copy more than minifleet reads (see [`super::aliases`]).
    Copies(TooManyCopies),
}

impl From<SyntaxError> for ReadError {
    fn from(e: SyntaxError) -> ReadError {
        ReadError::Syntax(e)
    }
}

impl From<TooManyCopies> for ReadError {
    fn from(e: TooManyCopies) -> ReadError {
        ReadError::Copies(e)
    }
}

/// Where each path's key and value start.
#[derive(Debug, Default)]
pub(crate) struct Index {
    keys: HashMap<String, LineCol>,
    values: HashMap<String, LineCol>,
    duplicates: Vec<Duplicate>,
    /// The `name` of `apps[i]`, by `i`, as written (to name an app before the file is read).
    app_names: HashMap<usize, String>,
}

/// A key written twice in one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// The key's path.
    pub(crate) path: String,
    /// The key itself.
    pub(crate) key: String,
    /// Where the first occurrence is.
    pub(crate) first: LineCol,
    /// Where the repeat is.
    pub(crate) again: LineCol,
    /// The `i` of the `apps[i]` the key is in.
    pub(crate) app: Option<usize>,
}

impl Index {
    /// Indexes `text`, or returns the first syntax error, or where its aliases copy more than
    /// minifleet reads (counted as the one pass in `doc` counts, so both refuse the same alias).
    pub(crate) fn build(text: &str) -> Result<Index, ReadError> {
        let mut builder = Builder::default();
        Parser::new_from_str(text)
            .load(&mut builder, false)
            .map_err(|e| SyntaxError::from(&e))?;
        match builder.too_many_copies {
            Some(e) => Err(e.into()),
            None => Ok(builder.index),
        }
    }

    /// The `name` written in `apps[i]`.
    pub(crate) fn app_name(&self, i: usize) -> Option<&str> {
        self.app_names.get(&i).map(String::as_str)
    }

    /// Keys written twice in one mapping, in file order.
    pub(crate) fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// Where the path's value starts (its key where the value is empty).
    pub(crate) fn value_of(&self, path: &YamlPath) -> Option<LineCol> {
        let p = path.to_string();
        self.values.get(&p).or_else(|| self.keys.get(&p)).copied()
    }

    /// Where the path's key starts (its value for sequence items).
    pub(crate) fn key_of(&self, path: &YamlPath) -> Option<LineCol> {
        let p = path.to_string();
        self.keys.get(&p).or_else(|| self.values.get(&p)).copied()
    }

    /// Where to point for a problem with the value at `path`: the path itself, else the
    /// `defaults` entry an app inherited it from, else the nearest enclosing node.
    pub(crate) fn locate(&self, path: &YamlPath) -> Option<LineCol> {
        self.find(path, Index::value_of)
    }

    /// Like [`Index::locate`], but points at the key itself when the path exists.
    pub(crate) fn locate_key(&self, path: &YamlPath) -> Option<LineCol> {
        self.find(path, Index::key_of)
    }

    fn find(
        &self,
        path: &YamlPath,
        at: fn(&Index, &YamlPath) -> Option<LineCol>,
    ) -> Option<LineCol> {
        let mut current = Some(path.clone());
        while let Some(p) = current {
            let here = at(self, &p).or_else(|| p.in_defaults().and_then(|d| at(self, &d)));
            if here.is_some() {
                return here;
            }
            current = p.parent();
        }
        None
    }
}

/// yaml-rust2 markers: 1-based lines, 0-based columns.
pub(crate) fn line_col(m: &Marker) -> LineCol {
    (m.line(), m.col() + 1)
}

/// An open mapping or sequence while walking the events.
enum Frame {
    Map {
        path: YamlPath,
        /// The key whose value comes next; `None` while a key is expected.
        key: Option<String>,
        /// The mapping's start marker, until its first key gives a better position.
        start: Option<Marker>,
    },
    Seq {
        path: YamlPath,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    index: Index,
    /// What aliases copied so far; the first alias past the bound, once there is one (nothing
    /// is copied here, but the careful path's whole read would).
    copies: Copies,
    too_many_copies: Option<TooManyCopies>,
}

impl Builder {
    /// The path of the node that comes next (a value, not a key).
    fn node_path(&self) -> YamlPath {
        match self.stack.last() {
            None => YamlPath::root(),
            Some(Frame::Map { path, key, .. }) => path.key(key.as_deref().unwrap_or("?")),
            Some(Frame::Seq { path, next }) => path.index(*next),
        }
    }

    /// The `i` of the `apps[i]` being walked, if one is.
    fn app(&self) -> Option<usize> {
        match self.stack.get(2) {
            Some(Frame::Map { path, .. }) => match path.segs() {
                [Seg::Key(apps), Seg::Index(i)] if apps == "apps" => Some(*i),
                _ => None,
            },
            _ => None,
        }
    }

    /// Keeps `text` as the name of `apps[i]` when it is that app's `name`.
    fn note_app_name(&mut self, text: &str) {
        if self.stack.len() == 3
            && matches!(self.stack.last(), Some(Frame::Map { key: Some(k), .. }) if k == "name")
            && let Some(i) = self.app()
        {
            self.index.app_names.insert(i, text.to_owned());
        }
    }

    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    /// Moves the enclosing container past a finished node (`key` when it was a key).
    fn finish_node(&mut self, key_text: Option<String>) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => {
                *key = match key {
                    None => Some(key_text.unwrap_or_else(|| "?".to_owned())),
                    Some(_) => None,
                }
            }
            Some(Frame::Seq { next, .. }) => *next += 1,
            None => {}
        }
    }

    fn on_key(&mut self, text: String, mark: Marker) {
        let app = self.app();
        if let Some(Frame::Map { path, start, .. }) = self.stack.last_mut() {
            if start.take().is_some() {
                self.index.values.insert(path.to_string(), line_col(&mark));
            }
            let key_path = path.key(&text).to_string();
            let here = line_col(&mark);
            match self.index.keys.get(&key_path) {
                Some(first) => {
                    let duplicate = Duplicate {
                        path: key_path,
                        key: text.clone(),
                        first: *first,
                        again: here,
                        app,
                    };
                    self.index.duplicates.push(duplicate);
                }
                None => {
                    self.index.keys.insert(key_path, here);
                }
            }
        }
        self.finish_node(Some(text));
    }

    fn on_value(&mut self, empty: bool, mark: Marker) {
        if !empty {
            self.index
                .values
                .insert(self.node_path().to_string(), line_col(&mark));
        }
        self.finish_node(None);
    }

    fn on_end(&mut self) {
        if let Some(Frame::Map {
            path,
            start: Some(m),
            ..
        }) = self.stack.pop()
        {
            self.index.values.insert(path.to_string(), line_col(&m));
        }
        self.finish_node(None);
    }
}

impl Builder {
    /// Counts what the event adds to the nodes aliases copy, until the first alias past the
    /// bound.
    fn count(&mut self, ev: &Event, mark: &Marker) {
        if self.too_many_copies.is_none() {
            self.too_many_copies = self.copies.event(ev, mark).err();
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.count(&ev, &mark);
        match ev {
            Event::Scalar(text, _, _, _) if self.expects_key() => self.on_key(text, mark),
            Event::Scalar(text, style, _, _) => {
                self.note_app_name(&text);
                self.on_value(text.is_empty() && style == TScalarStyle::Plain, mark)
            }
            Event::Alias(_) => self.on_value(false, mark),
            Event::MappingStart(..) => {
                let path = self.node_path();
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    start: Some(mark),
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node_path();
                self.index.values.insert(path.to_string(), line_col(&mark));
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => self.on_end(),
            _ => {}
        }
    }
}
