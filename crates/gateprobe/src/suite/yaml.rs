//! The one front door to YAML, for suites and config alike: bounds, structure checks, typed
//! deserialisation and the source position of every node.
//!
//! One pass over the events of `saphyr-parser` (pure safe Rust, maintained, a start marker per
//! event, aliases never expanded) builds a tree of the document in which every node keeps where
//! it starts. Duplicate keys (serde would keep the last one silently in free-form maps), nesting
//! depth and alias expansion are refused while the tree is built, each with a position. Typed
//! values are then deserialised from that tree by the serde [`Deserializer`] below, so every
//! error carries the position of the node it concerns; semantic checks (duplicate scenario
//! names, a `then` without `repeat`, an unknown identity) and CI annotations look positions up
//! in the same tree ([`Positions`]).
//!
//! Written by hand because no maintained crate does both: serde_yaml gives positions for errors
//! only, never for values that parsed fine, and parsing every file twice (once for positions,
//! once for types) was most of the load time; `marked-yaml` reads every scalar as a string,
//! which would change how free-form tool arguments are typed. Plain scalars are typed as
//! serde_yaml 0.9 types them (the YAML 1.2 core schema), so files mean what they meant. If the
//! YAML crate is ever swapped, only this file changes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use super::diagnostic::{Diagnostic, location_of, source_lines};
use super::model::Location;

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// Mappings and sequences nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;
/// Nodes a document may have at most, counting alias expansions: bounds "billion laughs", and
/// the memory of the tree for huge flat documents.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;
/// Deserialisation follows aliases, so a typed value can nest deeper than the file does; this
/// bounds it (and the stack it takes).
const MAX_VALUE_DEPTH: usize = 2 * MAX_DEPTH;

/// Where a node is: its key (for mapping values) and the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePos {
    /// Where the key is, for a mapping value (`None` for the root and sequence items).
    pub key: Option<Location>,
    /// Where the value starts.
    pub value: Location,
}

/// One parsed document: its node tree, each node with its position. Nodes are found by path:
/// `""` for the root, `/scenarios/0/expect/then` below it (keys escaped as in JSON pointers:
/// `~` → `~0`, `/` → `~1`).
#[derive(Debug)]
pub struct Positions<'a> {
    root: Node<'a>,
    /// Anchored nodes by anchor id: the tree holds [`Kind::Anchored`] where they are written
    /// and [`Kind::Alias`] where they are referred to, so no subtree is copied or shared.
    anchors: HashMap<usize, Node<'a>>,
}

#[derive(Debug)]
struct Node<'a> {
    at: Location,
    kind: Kind<'a>,
}

#[derive(Debug)]
enum Kind<'a> {
    /// `plain`: written without quotes or block style, so typed by its text (`1`, `true`, `~`).
    Scalar {
        text: Cow<'a, str>,
        plain: bool,
    },
    Seq(Vec<Node<'a>>),
    Map(Vec<(Node<'a>, Node<'a>)>),
    Anchored(usize),
    Alias(usize),
}

impl<'a> Positions<'a> {
    /// The node at `path`, if it was written out (nodes reached through an alias are not).
    pub fn get(&self, path: &str) -> Option<NodePos> {
        match self.walk(path) {
            (pos, true) => Some(pos),
            (_, false) => None,
        }
    }

    /// Where a diagnostic about `path` should point: its key when it has one, else its value;
    /// the nearest written-out ancestor when the node itself is not in the file.
    pub fn at(&self, path: &str) -> Location {
        let (pos, _) = self.walk(path);
        pos.key.unwrap_or(pos.value)
    }

    /// The position of the value at `path` (or of the nearest ancestor).
    pub fn value_at(&self, path: &str) -> Location {
        match self.walk(path) {
            (pos, true) => pos.value,
            (pos, false) => pos.key.unwrap_or(pos.value),
        }
    }

    /// The deepest node of `path` that is written out, and whether it is the node itself.
    fn walk(&self, path: &str) -> (NodePos, bool) {
        let mut node = &self.root;
        let mut pos = NodePos { key: None, value: node.at };
        for segment in path.split('/').skip(1) {
            let segment = unescape(segment);
            let next = match &self.written(node).kind {
                Kind::Seq(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)).map(|n| (None, n)),
                Kind::Map(entries) => {
                    entries.iter().find(|(k, _)| self.scalar_text(k) == Some(&segment)).map(|(k, v)| (Some(k.at), v))
                }
                _ => None,
            };
            let Some((key, next)) = next else { return (pos, false) };
            pos = NodePos { key, value: next.at };
            node = next;
        }
        (pos, true)
    }

    /// The node as written at this place: an anchored node is; an alias is not followed.
    fn written<'p>(&'p self, node: &'p Node<'a>) -> &'p Node<'a> {
        match node.kind {
            Kind::Anchored(id) => &self.anchors[&id],
            _ => node,
        }
    }

    /// The node's value, through anchors and aliases.
    fn target<'p>(&'p self, node: &'p Node<'a>) -> &'p Node<'a> {
        match node.kind {
            Kind::Anchored(id) | Kind::Alias(id) => &self.anchors[&id],
            _ => node,
        }
    }

    fn scalar_text<'p>(&'p self, node: &'p Node<'a>) -> Option<&'p str> {
        match &self.target(node).kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The path of a written-out node in serde_yaml's notation (`scenarios[0].expect`); a key
    /// gives the path of its mapping. Only errors ask, so a search is cheap enough.
    fn path_of(&self, wanted: &Node<'a>) -> Option<String> {
        // An anchored node is asked for by its place in the tree or by its entry in the table.
        let is = |doc: &Positions<'a>, node: &Node<'a>| {
            std::ptr::eq(node, wanted) || std::ptr::eq(doc.written(node), wanted)
        };
        fn walk<'a>(
            doc: &Positions<'a>,
            node: &Node<'a>,
            is: &dyn Fn(&Positions<'a>, &Node<'a>) -> bool,
            path: &mut String,
        ) -> bool {
            if is(doc, node) {
                return true;
            }
            let node = doc.written(node);
            let len = path.len();
            match &node.kind {
                Kind::Seq(items) => items.iter().enumerate().any(|(i, item)| {
                    path.truncate(len);
                    path.push_str(&format!("[{i}]"));
                    walk(doc, item, is, path)
                }),
                Kind::Map(entries) => entries.iter().any(|(k, v)| {
                    path.truncate(len);
                    if is(doc, k) {
                        return true;
                    }
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(doc.scalar_text(k).unwrap_or("?"));
                    walk(doc, v, is, path)
                }),
                _ => false,
            }
        }
        let mut path = String::new();
        walk(self, &self.root, &is, &mut path).then_some(path)
    }

    /// The first written-out node below `node` (itself included), in document order, for which
    /// `hit(node, is_key)` holds.
    fn find(&self, node: &Node<'a>, hit: &dyn Fn(&Node<'a>, bool) -> bool) -> Option<Location> {
        let node = self.written(node);
        match &node.kind {
            Kind::Seq(items) => items.iter().find_map(|n| self.find(n, hit)),
            Kind::Map(entries) => {
                entries.iter().find_map(|(k, v)| if hit(self.target(k), true) { Some(k.at) } else { self.find(v, hit) })
            }
            Kind::Scalar { .. } => hit(node, false).then_some(node.at),
            Kind::Anchored(_) | Kind::Alias(_) => None,
        }
    }
}

fn unescape(segment: &str) -> Cow<'_, str> {
    if segment.contains('~') {
        Cow::Owned(segment.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(segment)
    }
}

/// Appends one key to a path, escaped.
pub fn join(path: &str, key: &str) -> String {
    let mut joined = String::with_capacity(path.len() + key.len() + 1);
    joined.push_str(path);
    joined.push('/');
    if key.contains(['~', '/']) {
        joined.push_str(&key.replace('~', "~0").replace('/', "~1"));
    } else {
        joined.push_str(key);
    }
    joined
}

/// Parses `text` (the content of `file`) into `T`, with the position of every node.
/// `kind` names the schema in help lines (`suite`, `config`).
#[expect(clippy::result_large_err, reason = "one diagnostic per bad file, on the error path only")]
pub fn parse<'a, T: DeserializeOwned>(
    file: &Path,
    text: &'a str,
    kind: &str,
) -> Result<(T, Positions<'a>), Diagnostic> {
    if text.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::whole_file(
            file,
            format!("file is {} bytes, more than the {} MiB limit", text.len(), MAX_FILE_BYTES >> 20),
        )
        .with_help("split it into several files"));
    }
    if let Some(location) = first_tab(text) {
        return Err(Diagnostic::new(file, text, location, "tab character in YAML")
            .with_help("indent with spaces; inside a string, write `\\t` in double quotes"));
    }
    if source_lines(text).all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(Diagnostic::new(file, text, Location { line: 1, column: 1 }, "the file is empty").with_help(
            match kind {
                "suite" => "a suite starts with `suite: <name>` and a `scenarios:` list".to_owned(),
                _ => format!("`gateprobe schema {kind}` lists every key"),
            },
        ));
    }
    let positions = build(text).map_err(|e| Diagnostic::new(file, text, e.at, e.message).with_help(e.help))?;
    let de = De { doc: &positions, node: &positions.root, depth: 0 };
    match T::deserialize(de) {
        Ok(value) => Ok((value, positions)),
        Err(e) => {
            let at = e.at.unwrap_or(Location { line: 1, column: 1 });
            let help = help_for(&e.message, kind);
            Err(Diagnostic::new(file, text, at, e.message).with_help(help))
        }
    }
}

/// Serialises `value` as YAML (snapshots are written through here, so the YAML crate stays
/// behind this one file).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_yaml::to_string(value).map_err(|e| e.to_string())
}

/// The node positions of `text` alone (no typed parse), when it is well-formed YAML.
pub fn positions(text: &str) -> Option<Positions<'_>> {
    build(text).ok()
}

fn first_tab(text: &str) -> Option<Location> {
    text.find('\t').map(|i| location_of(text, i))
}

fn help_for(message: &str, kind: &str) -> String {
    if message.contains("unknown field") {
        format!("check the spelling; `gateprobe schema {kind}` lists every key")
    } else if message.contains("missing field") {
        format!("add it; `gateprobe schema {kind}` lists the required keys")
    } else if message.contains("unknown variant") {
        "use one of the values listed".to_owned()
    } else if message.contains("invalid type") || message.contains("invalid value") {
        format!("`gateprobe schema {kind}` gives the type of every key")
    } else if message.contains("duplicate field") {
        "remove one of the two".to_owned()
    } else if message.contains("second key") {
        "keep one key: it names the variant".to_owned()
    } else if message.contains("recursion limit") {
        "aliases nest the value too deeply; write the values out".to_owned()
    } else {
        "check the YAML around this position".to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// The tree, built from parser events

/// Why a document was refused while its tree was built.
struct BuildError {
    at: Location,
    message: String,
    help: String,
}

fn refuse(at: Location, message: impl Into<String>, help: impl Into<String>) -> BuildError {
    BuildError { at, message: message.into(), help: help.into() }
}

fn loc(span: &Span) -> Location {
    Location { line: span.start.line(), column: span.start.col() + 1 }
}

/// A mapping or sequence whose end has not been seen yet.
struct Open<'a> {
    at: Location,
    anchor: usize,
    /// Nodes below this one, with aliases expanded.
    size: usize,
    children: Children<'a>,
}

enum Children<'a> {
    Seq(Vec<Node<'a>>),
    Map {
        entries: Vec<(Node<'a>, Node<'a>)>,
        key: Option<Node<'a>>,
        /// Keys seen so far, by text, once the mapping is too large to scan for duplicates.
        index: Option<HashMap<String, Location>>,
    },
}

/// Mappings up to this many keys are checked for duplicates by scanning them (cheaper than
/// hashing for the small mappings that make up nearly every suite).
const SCAN_KEYS: usize = 16;

struct Builder<'a> {
    stack: Vec<Open<'a>>,
    /// Anchored nodes by id, with their expanded size.
    anchors: HashMap<usize, (Node<'a>, usize)>,
    expanded: usize,
    root: Option<Node<'a>>,
}

fn build(text: &str) -> Result<Positions<'_>, BuildError> {
    let mut b = Builder { stack: Vec::new(), anchors: HashMap::new(), expanded: 0, root: None };
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            let at = Location { line: e.marker().line(), column: e.marker().col() + 1 };
            // saphyr counts flow levels in a u8 and gives up past 255: that is our depth bound.
            if e.info() == "recursion limit exceeded" {
                refuse(at, format!("YAML nested deeper than {MAX_DEPTH} levels"), "flatten the structure")
            } else {
                refuse(at, e.info(), "check the YAML syntax around this position")
            }
        })?;
        let here = loc(&span);
        if b.expanded > MAX_EXPANDED_NODES {
            return Err(refuse(
                here,
                format!("the document has more than {MAX_EXPANDED_NODES} nodes"),
                "split it into several files",
            ));
        }
        match event {
            Event::DocumentStart(_) if b.root.is_some() => {
                return Err(refuse(
                    here,
                    "the file holds more than one document",
                    "keep one YAML document (no `---` separators) per file",
                ));
            }
            Event::Scalar(scalar, style, anchor, tag) => {
                let plain = scalar_typing(style, tag.as_deref(), here)?;
                b.expanded += 1;
                let text = verbatim(text, &span, scalar);
                b.finish(Node { at: here, kind: Kind::Scalar { text, plain } }, 1, anchor)?;
            }
            Event::Alias(id) => {
                let size = b.anchors.get(&id).map_or(1, |(_, size)| *size);
                b.expanded = b.expanded.saturating_add(size);
                if b.expanded > MAX_EXPANDED_NODES {
                    return Err(refuse(
                        here,
                        format!("aliases expand this document beyond {MAX_EXPANDED_NODES} nodes"),
                        "an alias bomb? write the values out instead of nesting aliases",
                    ));
                }
                if !b.anchors.contains_key(&id) {
                    return Err(refuse(
                        here,
                        "alias to an unknown anchor",
                        "define the anchor (`&name`) before `*name`",
                    ));
                }
                b.finish(Node { at: here, kind: Kind::Alias(id) }, size, 0)?;
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if let Some(tag) = tag.as_deref() {
                    collection_tag(tag, is_map, here)?;
                }
                if b.stack.len() >= MAX_DEPTH {
                    return Err(refuse(
                        here,
                        format!("YAML nested deeper than {MAX_DEPTH} levels"),
                        "flatten the structure",
                    ));
                }
                let children = if is_map {
                    Children::Map { entries: Vec::new(), key: None, index: None }
                } else {
                    Children::Seq(Vec::new())
                };
                b.stack.push(Open { at: here, anchor, size: 0, children });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = b.stack.pop() {
                    let kind = match open.children {
                        Children::Seq(items) => Kind::Seq(items),
                        Children::Map { entries, .. } => Kind::Map(entries),
                    };
                    b.expanded += 1;
                    b.finish(Node { at: open.at, kind }, open.size + 1, open.anchor)?;
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {}
        }
    }
    let root = b.root.unwrap_or(Node { at: Location { line: 1, column: 1 }, kind: Kind::Seq(Vec::new()) });
    Ok(Positions { root, anchors: b.anchors.into_iter().map(|(id, (node, _))| (id, node)).collect() })
}

/// The scalar as a slice of the file where it is written there verbatim (a plain scalar on one
/// line, the common case), so the copy saphyr makes of every scalar is freed at once: the tree
/// of a large suite then takes about a third less memory, and loading less time. Only the text
/// is compared (saphyr's span counts characters, which are bytes only in ASCII so far): a slice
/// is used only where it holds the same text.
fn verbatim<'a>(file: &'a str, span: &Span, scalar: Cow<'a, str>) -> Cow<'a, str> {
    match &scalar {
        Cow::Owned(owned) => match file.get(span.start.index()..span.end.index()) {
            Some(written) if written == owned => Cow::Borrowed(written),
            _ => scalar,
        },
        Cow::Borrowed(_) => scalar,
    }
}

/// Whether a scalar is typed by its text (plain, or a core tag that agrees with its text), or is
/// a string. Other tags are refused: nothing in gateprobe's files is selected by a tag.
fn scalar_typing(style: ScalarStyle, tag: Option<&Tag>, at: Location) -> Result<bool, BuildError> {
    let plain = style == ScalarStyle::Plain;
    let Some(tag) = tag else { return Ok(plain) };
    match (tag.is_yaml_core_schema(), tag.suffix.as_str()) {
        (true, "str") => Ok(false),
        (true, "int" | "float" | "bool" | "null") if plain => Ok(true),
        _ => Err(unsupported_tag(tag, at)),
    }
}

fn collection_tag(tag: &Tag, is_map: bool, at: Location) -> Result<(), BuildError> {
    match (tag.is_yaml_core_schema(), tag.suffix.as_str(), is_map) {
        (true, "map", true) | (true, "seq", false) => Ok(()),
        _ => Err(unsupported_tag(tag, at)),
    }
}

fn unsupported_tag(tag: &Tag, at: Location) -> BuildError {
    let shown = if tag.is_yaml_core_schema() { format!("!!{}", tag.suffix) } else { tag.to_string() };
    refuse(
        at,
        format!("YAML tag `{shown}` is not supported"),
        "drop the tag; a variant is chosen with a one-key map, e.g. `credential: { env: NAME }`",
    )
}

impl<'a> Builder<'a> {
    /// A node of `size` expanded nodes is complete: keep it under its anchor if it has one, and
    /// hand it to its parent.
    fn finish(&mut self, node: Node<'a>, size: usize, anchor: usize) -> Result<(), BuildError> {
        let node = if anchor > 0 {
            let at = node.at;
            self.anchors.insert(anchor, (node, size));
            Node { at, kind: Kind::Anchored(anchor) }
        } else {
            node
        };
        let Some(open) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        open.size = open.size.saturating_add(size);
        match &mut open.children {
            Children::Seq(items) => items.push(node),
            Children::Map { entries, key, index } => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let text = key_text(&node, &self.anchors);
                    // `<<` (merge) may repeat; it is an ordinary key to the typed structs.
                    if let Some(text) = text.filter(|t| *t != "<<") {
                        let first = first_use(entries, index, text, node.at, &self.anchors);
                        if let Some(first) = first {
                            return Err(refuse(
                                node.at,
                                format!(
                                    "duplicate key `{text}` (first at line {}, column {})",
                                    first.line, first.column
                                ),
                                "remove one of them; YAML keys are unique within a mapping",
                            ));
                        }
                    }
                    *key = Some(node);
                }
            },
        }
        Ok(())
    }
}

/// Where `text` was already used as a key of this mapping, if it was; records it otherwise.
fn first_use(
    entries: &[(Node<'_>, Node<'_>)],
    index: &mut Option<HashMap<String, Location>>,
    text: &str,
    at: Location,
    anchors: &HashMap<usize, (Node<'_>, usize)>,
) -> Option<Location> {
    if index.is_none() && entries.len() >= SCAN_KEYS {
        let known = entries.iter().filter_map(|(k, _)| Some((key_text(k, anchors)?.to_owned(), k.at)));
        *index = Some(known.collect());
    }
    match index {
        Some(index) => match index.get(text) {
            Some(first) => Some(*first),
            None => {
                index.insert(text.to_owned(), at);
                None
            }
        },
        None => entries.iter().find(|(k, _)| key_text(k, anchors) == Some(text)).map(|(k, _)| k.at),
    }
}

/// The text of a scalar key, anchored or not.
fn key_text<'n>(key: &'n Node<'_>, anchors: &'n HashMap<usize, (Node<'_>, usize)>) -> Option<&'n str> {
    let key = match key.kind {
        Kind::Anchored(id) => &anchors[&id].0,
        _ => key,
    };
    match &key.kind {
        Kind::Scalar { text, .. } => Some(text),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Typed values, deserialised from the tree

/// A deserialisation error and the node it concerns.
#[derive(Debug)]
struct DeError {
    message: String,
    at: Option<Location>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DeError { message: message.to_string(), at: None }
    }
}

/// A plain scalar's value under the YAML 1.2 core schema, with serde_yaml 0.9's rules (whose
/// number parsing this follows): `~`/`null`/empty, `true`/`false` in three casings, integers in
/// decimal, `0x`, `0o` and `0b`, floats with `.inf`/`.nan`; anything else is a string.
enum Plain<'t> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Str(&'t str),
}

fn resolve(text: &str) -> Plain<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text.strip_prefix('+').unwrap_or(text), u64::from_str_radix) {
        return Plain::Unsigned(n);
    }
    if let Some(n) = text.strip_prefix('-').and_then(|digits| parse_int(digits, u64::from_str_radix)) {
        if let Some(n) = 0i64.checked_sub_unsigned(n) {
            return Plain::Signed(n);
        }
    }
    if !leading_zero(text) {
        if let Some(f) = parse_float(text) {
            return Plain::Float(f);
        }
    }
    Plain::Str(text)
}

/// Digits with a radix prefix or in decimal; no sign (the caller strips it).
fn parse_int(digits: &str, from: fn(&str, u32) -> Result<u64, std::num::ParseIntError>) -> Option<u64> {
    if digits.starts_with(['+', '-']) {
        return None;
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            return if rest.starts_with(['+', '-']) { None } else { from(rest, radix).ok() };
        }
    }
    if leading_zero(digits) { None } else { from(digits, 10).ok() }
}

/// `007` is a string in YAML 1.2, not a number.
fn leading_zero(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

fn parse_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // Rust also reads `inf`, `NaN` and `infinity`, which YAML leaves strings.
    let digits = unsigned.strip_prefix('-').unwrap_or(unsigned);
    if digits.starts_with(['+', '-']) || !digits.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b)) {
        return None;
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Deserialises one node of a document.
#[derive(Clone, Copy)]
struct De<'p, 'a> {
    doc: &'p Positions<'a>,
    node: &'p Node<'a>,
    /// Levels of typed value above this one.
    depth: usize,
}

impl<'p, 'a> De<'p, 'a> {
    fn child(&self, node: &'p Node<'a>) -> De<'p, 'a> {
        De { doc: self.doc, node, depth: self.depth + 1 }
    }

    /// The node's value, through anchors and aliases.
    fn value(&self) -> &'p Kind<'a> {
        &self.doc.target(self.node).kind
    }

    fn is_null(&self) -> bool {
        matches!(self.value(), Kind::Scalar { text, plain: true } if matches!(resolve(text), Plain::Null))
    }

    /// Runs `f`, giving its error this node's position unless a node below already gave one.
    fn located<T>(self, f: impl FnOnce(Self) -> Result<T, DeError>) -> Result<T, DeError> {
        if self.depth > MAX_VALUE_DEPTH {
            return Err(DeError {
                message: format!("recursion limit exceeded: the value nests deeper than {MAX_VALUE_DEPTH} levels"),
                at: Some(self.node.at),
            });
        }
        f(self).map_err(|mut e| {
            if e.at.is_none() {
                e.at = Some(self.relocate(&e.message).unwrap_or(self.node.at));
                // Where in the document, as serde_yaml said it: `run.concurrency: invalid type…`.
                if let Some(path) = self.doc.path_of(self.node).filter(|p| !p.is_empty()) {
                    e.message = format!("{path}: {}", e.message);
                }
            }
            e
        })
    }

    /// Errors that serde raises after buffering a value (internally tagged enums, like the
    /// config's `target`) name a key or a value but come without a position: find it below.
    fn relocate(&self, message: &str) -> Option<Location> {
        let quoted = |prefix: &str| -> Option<&str> {
            let rest = &message[message.find(prefix)? + prefix.len()..];
            Some(&rest[..rest.find('`')?])
        };
        let scalar_is =
            |node: &Node<'_>, wanted: &str| matches!(&node.kind, Kind::Scalar { text, .. } if text == wanted);
        if let Some(field) = quoted("unknown field `") {
            return self.doc.find(self.node, &|node, is_key| is_key && scalar_is(node, field));
        }
        if let Some(variant) = quoted("unknown variant `") {
            return self.doc.find(self.node, &|node, is_key| !is_key && scalar_is(node, variant));
        }
        None
    }

    fn unexpected(&self) -> Unexpected<'p> {
        match self.value() {
            Kind::Scalar { text, plain: true } => match resolve(text) {
                Plain::Null => Unexpected::Unit,
                Plain::Bool(b) => Unexpected::Bool(b),
                Plain::Unsigned(n) => Unexpected::Unsigned(n),
                Plain::Signed(n) => Unexpected::Signed(n),
                Plain::Float(f) => Unexpected::Float(f),
                Plain::Str(s) => Unexpected::Str(s),
            },
            Kind::Scalar { text, .. } => Unexpected::Str(text),
            Kind::Seq(_) => Unexpected::Seq,
            Kind::Map(_) => Unexpected::Map,
            Kind::Anchored(_) | Kind::Alias(_) => unreachable!("value() follows anchors"),
        }
    }
}

impl<'de, 'p, 'a> Deserializer<'de> for De<'p, 'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.located(|de| match de.value() {
            Kind::Scalar { text, plain: true } => match resolve(text) {
                Plain::Null => visitor.visit_unit(),
                Plain::Bool(b) => visitor.visit_bool(b),
                Plain::Unsigned(n) => visitor.visit_u64(n),
                Plain::Signed(n) => visitor.visit_i64(n),
                Plain::Float(f) => visitor.visit_f64(f),
                Plain::Str(s) => visitor.visit_str(s),
            },
            Kind::Scalar { text, .. } => visitor.visit_str(text),
            Kind::Seq(items) => visitor.visit_seq(Elements { de, items: items.iter() }),
            Kind::Map(entries) => visitor.visit_map(Entries { de, entries: entries.iter(), value: None }),
            Kind::Anchored(_) | Kind::Alias(_) => unreachable!("value() follows anchors"),
        })
    }

    /// Any scalar reads as a string (`name: 123` is the name "123"), as with serde_yaml.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.located(|de| match de.value() {
            Kind::Scalar { text, .. } => visitor.visit_str(text),
            _ => Err(de::Error::invalid_type(de.unexpected(), &visitor)),
        })
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.located(|de| if de.is_null() { visitor.visit_none() } else { visitor.visit_some(de) })
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.located(|de| {
            if de.is_null() { visitor.visit_unit() } else { Err(de::Error::invalid_type(de.unexpected(), &visitor)) }
        })
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        self.located(|de| visitor.visit_newtype_struct(de))
    }

    /// A sequence, or nothing at all (`list:` with no value) for an empty one.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.located(|de| match de.value() {
            Kind::Seq(items) => visitor.visit_seq(Elements { de, items: items.iter() }),
            _ if de.is_empty_plain() => visitor.visit_seq(Elements { de, items: [].iter() }),
            _ => Err(de::Error::invalid_type(de.unexpected(), &visitor)),
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    /// A mapping, or nothing at all (`defaults:` with no value) for an empty one.
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.located(|de| match de.value() {
            Kind::Map(entries) => visitor.visit_map(Entries { de, entries: entries.iter(), value: None }),
            _ if de.is_empty_plain() => visitor.visit_map(Entries { de, entries: [].iter(), value: None }),
            _ => Err(de::Error::invalid_type(de.unexpected(), &visitor)),
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    /// A unit variant by name (`decision: allow`), or a one-key mapping for a variant with data.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.located(|de| match de.value() {
            Kind::Scalar { text, .. } => {
                let name: de::value::StrDeserializer<'_, DeError> = text.as_ref().into_deserializer();
                visitor.visit_enum(name)
            }
            Kind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                visitor.visit_enum(Variant { key: de.child(key), value: de.child(value) })
            }
            Kind::Map(entries) if entries.len() > 1 => Err(DeError {
                message: format!(
                    "unexpected second key `{}`: give exactly one",
                    de.doc.scalar_text(&entries[1].0).unwrap_or("?")
                ),
                at: Some(entries[1].0.at),
            }),
            _ => Err(de::Error::invalid_type(de.unexpected(), &visitor)),
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
    }
}

impl De<'_, '_> {
    fn is_empty_plain(&self) -> bool {
        matches!(self.value(), Kind::Scalar { text, plain: true } if text.is_empty())
    }
}

struct Elements<'p, 'a> {
    de: De<'p, 'a>,
    items: std::slice::Iter<'p, Node<'a>>,
}

impl<'de> SeqAccess<'de> for Elements<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        self.items.next().map(|node| seed.deserialize(self.de.child(node))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'p, 'a> {
    de: De<'p, 'a>,
    entries: std::slice::Iter<'p, (Node<'a>, Node<'a>)>,
    value: Option<&'p Node<'a>>,
}

impl<'de> MapAccess<'de> for Entries<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(self.de.child(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self.value.take().expect("serde asks for a value after its key");
        seed.deserialize(self.de.child(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A variant written as a one-key mapping: `{ env: NAME }`.
struct Variant<'p, 'a> {
    key: De<'p, 'a>,
    value: De<'p, 'a>,
}

impl<'de, 'p, 'a> EnumAccess<'de> for Variant<'p, 'a> {
    type Error = DeError;
    type Variant = De<'p, 'a>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, De<'p, 'a>), DeError> {
        Ok((seed.deserialize(self.key)?, self.value))
    }
}

impl<'de> VariantAccess<'de> for De<'_, '_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        self.located(|de| if de.is_null() { Ok(()) } else { Err(de::Error::invalid_type(de.unexpected(), &"nothing")) })
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(text: &str) -> Positions<'_> {
        match build(text) {
            Ok(p) => p,
            Err(e) => panic!("{:?} {}", e.at, e.message),
        }
    }

    /// The refusal of `text`: where and what.
    fn refused(text: &str) -> (Location, String) {
        match build(text) {
            Ok(_) => panic!("{text:?} was accepted"),
            Err(e) => (e.at, e.message),
        }
    }

    /// Pins: a scalar written verbatim is the file's own text, and every scalar reads right,
    /// whatever saphyr's spans say: quoted, folded over two lines, or after non-ASCII text
    /// (where its character offsets are not byte offsets).
    #[test]
    fn scalars_written_verbatim_borrow_the_file() {
        let p = positions("a: plain\nb: \"quoted\"\nc: two\n  lines\né: after\nd: x\n");
        let Kind::Map(entries) = &p.root.kind else { panic!("not a map") };
        let scalars: Vec<(&str, bool)> = entries
            .iter()
            .map(|(_, v)| match &v.kind {
                Kind::Scalar { text, .. } => (text.as_ref(), matches!(text, Cow::Borrowed(_))),
                other => panic!("{other:?}"),
            })
            .collect();
        let texts: Vec<&str> = scalars.iter().map(|(t, _)| *t).collect();
        assert_eq!(texts, ["plain", "quoted", "two lines", "after", "x"]);
        assert!(scalars[0].1, "a plain one-line scalar is borrowed");
        assert!(!scalars[2].1, "a folded scalar is not the file's text");
    }

    #[test]
    fn records_positions_of_block_and_flow_nodes() {
        let p = positions("suite: x\nscenarios:\n  - name: a\n    call: { tool: t, arguments: {p: 1} }\n  - name: b\n");
        assert_eq!(
            p.get("/suite").unwrap(),
            NodePos { key: Some(Location { line: 1, column: 1 }), value: Location { line: 1, column: 8 } }
        );
        assert_eq!(p.get("/scenarios/0").unwrap().value, Location { line: 3, column: 5 });
        assert_eq!(p.get("/scenarios/1").unwrap().value, Location { line: 5, column: 5 });
        assert_eq!(p.at("/scenarios/0/call/tool"), Location { line: 4, column: 13 });
        assert_eq!(p.value_at("/scenarios/0/call/arguments/p"), Location { line: 4, column: 37 });
        // Missing nodes fall back to the nearest ancestor.
        assert_eq!(p.at("/scenarios/1/expect/then"), Location { line: 5, column: 5 });
    }

    #[test]
    fn keys_are_escaped_like_json_pointers() {
        let p = positions("a/b: 1\n~c: 2\n");
        assert!(p.get("/a~1b").is_some());
        assert!(p.get("/~0c").is_some());
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_positions() {
        let (l, m) = refused("a: 1\nb:\n  c: 1\n  c: 2\n");
        assert_eq!(l, Location { line: 4, column: 3 });
        assert_eq!(m, "duplicate key `c` (first at line 3, column 3)");
    }

    /// Large mappings switch from scanning to an index; duplicates are found either way.
    #[test]
    fn duplicate_keys_are_found_in_large_mappings() {
        let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k3: again\n");
        let (l, m) = refused(&text);
        assert_eq!((l.line, m.as_str()), (41, "duplicate key `k3` (first at line 4, column 1)"));
        positions(&(0..40).map(|i| format!("k{i}: {i}\n")).collect::<String>());
    }

    #[test]
    fn same_key_in_sibling_maps_is_fine() {
        positions("- {a: 1}\n- {a: 2}\n");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("a: {}1{}\n", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let (l, m) = refused(&deep);
        assert!(m.contains("deeper than 64"), "{m}");
        assert_eq!(l.line, 1);
        positions(&format!("a: {}1{}\n", "[".repeat(MAX_DEPTH - 2), "]".repeat(MAX_DEPTH - 2)));
    }

    #[test]
    fn alias_bomb_is_refused_at_the_alias() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (l, m) = refused(&bomb);
        assert!(m.contains("aliases expand"), "{m}");
        assert!(l.line >= 6, "{l:?}");
        // A few honest aliases are fine.
        positions("x: &x {a: 1}\ny: *x\nz: *x\n");
    }

    /// Pins two hostile-input fixes: past 255 flow levels saphyr gives up with a "syntax" error,
    /// which is the depth bound; and flat documents of millions of nodes are refused before
    /// they fill memory.
    #[test]
    fn very_deep_flow_nesting_and_huge_flat_documents_hit_the_bounds() {
        let deep = format!("a: {}\n", "[".repeat(100_000));
        let (_, m) = refused(&deep);
        assert!(m.contains("deeper than 64"), "{m}");
        let flat = format!("a: [{}1]\n", "1,".repeat(MAX_EXPANDED_NODES));
        let (l, m) = refused(&flat);
        assert!(m.contains("more than 1000000 nodes"), "{m}");
        assert_eq!(l.line, 1);
    }

    #[test]
    fn tabs_and_size_are_refused_before_parsing() {
        let e = parse::<serde_yaml::Value>(Path::new("f.yaml"), "a:\n\t- 1\n", "suite").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        let big = "#".repeat(MAX_FILE_BYTES + 1);
        let e = parse::<serde_yaml::Value>(Path::new("f.yaml"), &big, "suite").unwrap_err();
        assert_eq!(e.line, 0);
    }

    /// Odd inputs give a positioned diagnostic or a value, never a panic.
    #[test]
    fn odd_inputs_never_panic() {
        for text in [
            "---\na: 1\n---\nb: 2\n",
            "\u{feff}a: 1\n",
            "a: 1\r\nb: 2\r\n",
            "[",
            "{",
            "a: *unknown\n",
            "a: !!binary aGk=\n",
            "? [a]\n: 1\n",
            "&a [*a]\n",
            "a: 'unterminated\n",
            "- - - - -\n",
            "a: |\n  text\n b: 1\n",
            "%YAML 1.1\n---\na: 1\n",
        ] {
            match parse::<serde_yaml::Value>(Path::new("f.yaml"), text, "suite") {
                Ok(_) => {}
                Err(d) => {
                    assert!(d.line >= 1, "{text:?}: {d:?}");
                    let _ = d.render(true);
                }
            }
        }
    }

    /// libyaml reports an unclosed flow collection at end of file on the line after the last
    /// one when the file has no final line break; the diagnostic points at the end instead.
    #[test]
    fn end_of_file_errors_point_into_the_file() {
        for (text, at) in [("a: {b: 1", (1, 9)), ("a: 1\nb: [1, 2", (2, 9)), ("a: [1\r\n", (2, 1))] {
            let e = parse::<serde_yaml::Value>(Path::new("f.yaml"), text, "suite").unwrap_err();
            assert_eq!((e.line, e.column), at, "{text:?}: {e}");
        }
    }

    #[test]
    fn more_than_one_document_is_refused() {
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only deserialised")]
        struct S {
            a: u32,
        }
        let e = parse::<S>(Path::new("f.yaml"), "a: 1\n---\na: 2\n", "suite").unwrap_err();
        assert!(e.message.contains("more than one document"), "{}", e.message);
    }

    /// Errors inside internally tagged enums come from serde without a position.
    #[test]
    fn errors_in_tagged_enums_are_relocated() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
        #[expect(dead_code, reason = "only deserialised")]
        enum E {
            A { path: String, d: Option<crate::decision::Decision> },
        }
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only deserialised")]
        struct S {
            e: E,
        }
        let e = parse::<S>(Path::new("f.yaml"), "e:\n  kind: a\n  pathh: x\n", "config").unwrap_err();
        assert_eq!((e.line, e.column), (3, 3), "{e}");
        let e = parse::<S>(Path::new("f.yaml"), "e:\n  kind: a\n  path: x\n  d: maybe\n", "config").unwrap_err();
        assert_eq!((e.line, e.column), (4, 6), "{e}");
    }

    #[test]
    fn serde_errors_lose_the_location_suffix() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "only deserialised")]
        struct S {
            a: u32,
        }
        let e = parse::<S>(Path::new("f.yaml"), "a: 1\nb: 2\n", "suite").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert_eq!(e.message, "unknown field `b`, expected `a`");
    }

    /// Plain scalars are typed as serde_yaml 0.9 types them, so files keep their meaning.
    #[test]
    fn scalars_are_typed_like_serde_yaml() {
        for text in [
            "a: 1",
            "a: -1",
            "a: +1",
            "a: 0x1F",
            "a: 0o17",
            "a: 0b101",
            "a: -0x10",
            "a: 007",
            "a: 1.5",
            "a: -1.5e3",
            "a: .inf",
            "a: -.inf",
            "a: 1e400",
            "a: inf",
            "a: nan",
            "a: true",
            "a: True",
            "a: yes",
            "a: no",
            "a: ~",
            "a: null",
            "a: NULL",
            "a:",
            "a: ''",
            "a: '1'",
            "a: \"true\"",
            "a: 18446744073709551615",
            "a: -9223372036854775808",
            "a: 1_000",
            "a: 12:30",
            "a: 2026-11-30",
            "a: !!str 12",
            "a: [1, b, {c: d}]",
            "a: |\n  x\n  y\n",
            "a: >-\n  x\n  y\n",
            "a: &x {b: 1}\nc: *x",
            "a: 0.",
            "a: .5",
            "a: +.5",
        ] {
            let ours = parse::<serde_json::Value>(Path::new("f.yaml"), text, "suite").map(|(v, _)| v);
            let theirs = serde_yaml::from_str::<serde_json::Value>(text);
            assert_eq!(ours.unwrap(), theirs.unwrap(), "{text:?}");
        }
    }

    #[test]
    fn aliases_give_the_anchored_value_and_are_not_written_out() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct S {
            x: Vec<u32>,
            y: Vec<u32>,
        }
        let (s, p) = parse::<S>(Path::new("f.yaml"), "x: &n [1, 2]\ny: *n\n", "suite").unwrap();
        assert_eq!(s, S { x: vec![1, 2], y: vec![1, 2] });
        assert_eq!(p.value_at("/x/1"), Location { line: 1, column: 11 });
        assert!(p.get("/y/1").is_none());
        assert_eq!(p.at("/y/1"), Location { line: 2, column: 1 });
    }

    #[test]
    fn tags_other_than_core_types_are_refused() {
        let e = parse::<serde_json::Value>(Path::new("f.yaml"), "a: 1\nb: !env NAME\n", "config").unwrap_err();
        assert_eq!((e.line, e.column, e.message.as_str()), (2, 4, "YAML tag `!env` is not supported"));
        let e = parse::<serde_json::Value>(Path::new("f.yaml"), "b: !!binary aGk=\n", "config").unwrap_err();
        assert_eq!(e.message, "YAML tag `!!binary` is not supported");
    }

    /// Type errors point at the value, missing fields at the mapping, wherever they nest, and
    /// say where in the document they are.
    #[test]
    fn typed_errors_point_at_their_node() {
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only deserialised")]
        struct Inner {
            n: u32,
            d: crate::decision::Decision,
        }
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only deserialised")]
        struct S {
            list: Vec<Inner>,
        }
        let at = |text: &str| {
            let e = parse::<S>(Path::new("f.yaml"), text, "suite").unwrap_err();
            (e.line, e.column, e.message)
        };
        assert_eq!(
            at("list:\n  - {n: 1, d: allow}\n  - {n: x, d: allow}\n"),
            (3, 9, "list[1].n: invalid type: string \"x\", expected u32".to_owned())
        );
        assert_eq!(at("list:\n  - n: 1\n    d: maybe\n").0, 3);
        assert_eq!(at("list:\n  - n: 1\n"), (2, 5, "list[0]: missing field `d`".to_owned()));
        assert_eq!(
            at("list:\n  - n: &n x\n    d: allow\n"),
            (2, 8, "list[0].n: invalid type: string \"x\", expected u32".to_owned())
        );
    }

    /// Empty values read as empty collections where one is expected, as with serde_yaml.
    #[test]
    fn an_empty_value_is_an_empty_collection() {
        #[derive(serde::Deserialize, Debug, Default, PartialEq)]
        struct S {
            #[serde(default)]
            m: std::collections::BTreeMap<String, u32>,
            #[serde(default)]
            l: Vec<u32>,
        }
        let (s, _) = parse::<S>(Path::new("f.yaml"), "m:\nl:\n", "suite").unwrap();
        assert_eq!(s, S::default());
    }
}
