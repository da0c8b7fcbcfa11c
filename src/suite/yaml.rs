//! The one front door to YAML, for suites and config alike: bounds, structure checks, typed
//! deserialisation and the source position of every node.
//!
//! Two passes, because serde_yaml reports positions for errors only, never for values that
//! parsed fine, and semantic checks (duplicate scenario names, a `then` without `repeat`, an
//! unknown identity) and CI annotations need them:
//!
//! 1. a light event pass with `saphyr-parser` (pure safe Rust, maintained, gives a start marker
//!    per event, and never expands aliases) that records the position of every node by path,
//!    rejects duplicate keys (serde would keep the last one silently in free-form maps), bounds
//!    nesting depth and alias expansion, all with a position;
//! 2. serde_yaml into the typed shape, whose errors carry a position too.
//!
//! `marked-yaml` (serde over a marked tree) was the alternative; it reads every scalar as a
//! string, which would change how free-form tool arguments are typed. If serde_yaml is ever
//! swapped, only this file changes.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, Span};
use serde::de::DeserializeOwned;

use super::diagnostic::Diagnostic;
use super::model::Location;

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// Mappings and sequences nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;
/// Nodes a document may have at most, counting alias expansions: bounds "billion laughs", and
/// the memory of the position table and of serde_yaml's event buffer for huge flat documents.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Where a node is: its key (for mapping values) and the value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePos {
    pub key: Option<Location>,
    pub value: Location,
}

/// Positions of the nodes of one document, by path: `""` for the root, `/scenarios/0/expect/then`
/// below it (keys escaped as in JSON pointers: `~` → `~0`, `/` → `~1`).
#[derive(Debug, Clone, Default)]
pub struct Positions {
    nodes: HashMap<String, NodePos>,
    /// Scalar values and where they are, in document order (to relocate errors that serde
    /// reports without a position).
    scalars: Vec<(String, Location)>,
}

impl Positions {
    /// The node at `path`, if it was written out (nodes reached through an alias are not).
    pub fn get(&self, path: &str) -> Option<NodePos> {
        self.nodes.get(path).copied()
    }

    /// Where a diagnostic about `path` should point: its key when it has one, else its value;
    /// the nearest written-out ancestor when the node itself is not in the file.
    pub fn at(&self, path: &str) -> Location {
        let mut p = path;
        loop {
            if let Some(pos) = self.nodes.get(p) {
                return pos.key.unwrap_or(pos.value);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Location { line: 1, column: 1 },
            }
        }
    }

    /// The position of the value at `path` (or of the nearest ancestor).
    pub fn value_at(&self, path: &str) -> Location {
        match self.nodes.get(path) {
            Some(pos) => pos.value,
            None => self.at(path),
        }
    }
}

/// Appends one key to a path, escaped.
pub fn join(path: &str, key: &str) -> String {
    // Built by hand, not with format!: this runs for every node of every suite (the load
    // benchmark's hottest line).
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
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str, kind: &str) -> Result<(T, Positions), Diagnostic> {
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
    if text.trim().is_empty() || text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Err(Diagnostic::new(file, text, Location { line: 1, column: 1 }, "the file is empty").with_help(
            match kind {
                "suite" => "a suite starts with `suite: <name>` and a `scenarios:` list".to_owned(),
                _ => format!("`gateprobe schema {kind}` lists every key"),
            },
        ));
    }
    let structure = structure_pass(text);
    let positions = match structure {
        Ok(p) => Some(p),
        Err(StructureError::Limit(location, message, help)) => {
            return Err(Diagnostic::new(file, text, location, message).with_help(help));
        }
        // A syntax error: let serde_yaml (libyaml) word it, it is the parser that decides.
        Err(StructureError::Syntax(..)) => None,
    };
    match serde_yaml::from_str::<T>(text) {
        Err(e) => Err(from_serde(file, text, kind, &e, positions.as_ref())),
        Ok(value) => match positions {
            Some(p) => Ok((value, p)),
            None => {
                // The two parsers disagree about the syntax: refuse rather than guess positions.
                let Err(StructureError::Syntax(location, message)) = structure_pass(text) else {
                    unreachable!("the structure pass is deterministic")
                };
                Err(Diagnostic::new(file, text, location, message)
                    .with_help("simplify the YAML here (plain block style is safest)"))
            }
        },
    }
}

/// Serialises `value` as YAML (snapshots are written through here, so the YAML crate stays
/// behind this one file).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_yaml::to_string(value).map_err(|e| e.to_string())
}

/// The node positions of `text` alone (no typed parse), when it is well-formed YAML.
pub fn positions(text: &str) -> Option<Positions> {
    structure_pass(text).ok()
}

fn first_tab(text: &str) -> Option<Location> {
    text.lines()
        .enumerate()
        .find_map(|(i, line)| line.chars().position(|c| c == '\t').map(|col| Location { line: i + 1, column: col + 1 }))
}

fn from_serde(file: &Path, text: &str, kind: &str, e: &serde_yaml::Error, positions: Option<&Positions>) -> Diagnostic {
    let mut message = e.to_string();
    let mut location = match e.location() {
        Some(l) => {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(i) = message.find(&suffix) {
                message.replace_range(i..i + suffix.len(), "");
            }
            Location { line: l.line(), column: l.column() }
        }
        None => Location { line: 1, column: 1 },
    };
    // Inside internally tagged enums (config `target`, `audit`) serde buffers the content and
    // its errors lose their position: find the named key or value in the document instead.
    if location == (Location { line: 1, column: 1 }) {
        if let Some(found) = positions.and_then(|p| relocate(p, &message)) {
            location = found;
        }
    }
    let help = if message.contains("unknown field") {
        format!("check the spelling; `gateprobe schema {kind}` lists every key")
    } else if message.contains("missing field") {
        format!("add it; `gateprobe schema {kind}` lists the required keys")
    } else if message.contains("unknown variant") {
        "use one of the values listed".to_owned()
    } else if message.contains("invalid type") || message.contains("invalid value") {
        format!("`gateprobe schema {kind}` gives the type of every key")
    } else if message.contains("duplicate field") {
        "remove one of the two".to_owned()
    } else if message.contains("repetition limit") {
        "aliases expand too much; write the values out".to_owned()
    } else if message.contains("recursion limit") {
        format!("nest at most {MAX_DEPTH} levels")
    } else if message.contains("more than one document") {
        "keep one YAML document (no `---` separators) per file".to_owned()
    } else {
        "check the YAML syntax around this position".to_owned()
    };
    Diagnostic::new(file, text, location, message).with_help(help)
}

/// The first key named in an "unknown field `x`" message, or the first scalar named in an
/// "unknown variant `x`" one.
fn relocate(positions: &Positions, message: &str) -> Option<Location> {
    let quoted = |prefix: &str| -> Option<String> {
        let rest = &message[message.find(prefix)? + prefix.len()..];
        Some(rest[..rest.find('`')?].to_owned())
    };
    if let Some(field) = quoted("unknown field `") {
        let suffix = join("", &field);
        return positions
            .nodes
            .iter()
            .filter(|(path, _)| path.ends_with(&suffix))
            .filter_map(|(_, pos)| pos.key)
            .min_by_key(|l| (l.line, l.column));
    }
    if let Some(value) = quoted("unknown variant `") {
        return positions.scalars.iter().find(|(v, _)| *v == value).map(|(_, l)| *l);
    }
    None
}

enum StructureError {
    /// Beyond a bound: reported as is, serde_yaml is never run.
    Limit(Location, String, String),
    /// Not YAML: serde_yaml words the error.
    Syntax(Location, String),
}

fn loc(span: &Span) -> Location {
    Location { line: span.start.line(), column: span.start.col() + 1 }
}

enum FrameKind {
    Seq { next: usize },
    Map { expecting_key: bool, key: Option<(String, Location)>, seen: HashMap<String, Location> },
}

struct Frame {
    path: String,
    kind: FrameKind,
    anchor: usize,
    /// Nodes below this one, with aliases expanded.
    size: usize,
}

fn structure_pass(text: &str) -> Result<Positions, StructureError> {
    let mut positions = Positions::default();
    let mut stack: Vec<Frame> = Vec::new();
    // Expanded size of each anchored node, by anchor id.
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    let mut expanded = 0usize;

    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| {
            let at = Location { line: e.marker().line(), column: e.marker().col() + 1 };
            // saphyr counts flow levels in a u8 and gives up past 255: that is our depth bound,
            // not a syntax error. (Handing such a file to libyaml would take quadratic time.)
            if e.info() == "recursion limit exceeded" {
                StructureError::Limit(
                    at,
                    format!("YAML nested deeper than {MAX_DEPTH} levels"),
                    "flatten the structure".to_owned(),
                )
            } else {
                StructureError::Syntax(at, e.info().to_owned())
            }
        })?;
        let here = loc(&span);
        if expanded > MAX_EXPANDED_NODES {
            return Err(StructureError::Limit(
                here,
                format!("the document has more than {MAX_EXPANDED_NODES} nodes"),
                "split it into several files".to_owned(),
            ));
        }
        match event {
            Event::DocumentEnd => break,
            Event::Scalar(value, _, anchor, _) => {
                node_start(&mut stack, &mut positions, here, Some(&value))?;
                positions.scalars.push((value.into_owned(), here));
                if anchor > 0 {
                    anchors.insert(anchor, 1);
                }
                node_end(&mut stack, 1);
                expanded += 1;
            }
            Event::Alias(id) => {
                node_start(&mut stack, &mut positions, here, None)?;
                let size = anchors.get(&id).copied().unwrap_or(1);
                expanded = expanded.saturating_add(size);
                if expanded > MAX_EXPANDED_NODES {
                    return Err(StructureError::Limit(
                        here,
                        format!("aliases expand this document beyond {MAX_EXPANDED_NODES} nodes"),
                        "an alias bomb? write the values out instead of nesting aliases".to_owned(),
                    ));
                }
                node_end(&mut stack, size);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let path = node_start(&mut stack, &mut positions, here, None)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(StructureError::Limit(
                        here,
                        format!("YAML nested deeper than {MAX_DEPTH} levels"),
                        "flatten the structure".to_owned(),
                    ));
                }
                let kind = if is_map {
                    FrameKind::Map { expecting_key: true, key: None, seen: HashMap::new() }
                } else {
                    FrameKind::Seq { next: 0 }
                };
                stack.push(Frame { path, kind, anchor, size: 0 });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = stack.pop() {
                    let size = frame.size + 1;
                    if frame.anchor > 0 {
                        anchors.insert(frame.anchor, size);
                    }
                    node_end(&mut stack, size);
                    expanded += 1;
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) => {}
        }
    }
    Ok(positions)
}

/// Records a node that starts at `here` and returns its path. `key_text` is the scalar's text,
/// used when the node is a mapping key (duplicate check).
fn node_start(
    stack: &mut [Frame],
    positions: &mut Positions,
    here: Location,
    key_text: Option<&str>,
) -> Result<String, StructureError> {
    let Some(top) = stack.last_mut() else {
        positions.nodes.insert(String::new(), NodePos { key: None, value: here });
        return Ok(String::new());
    };
    let (path, pos) = match &mut top.kind {
        FrameKind::Seq { next } => {
            let path = join(&top.path, &next.to_string());
            *next += 1;
            (path, NodePos { key: None, value: here })
        }
        FrameKind::Map { expecting_key: true, key, seen } => {
            // A key: complex keys (collections) are walked under a path no lookup uses.
            let name = key_text.map(str::to_owned).unwrap_or_else(|| "?complex-key".to_owned());
            if key_text.is_some() && name != "<<" {
                if let Some(first) = seen.get(&name) {
                    return Err(StructureError::Limit(
                        here,
                        format!("duplicate key `{name}` (first at line {}, column {})", first.line, first.column),
                        "remove one of them; YAML keys are unique within a mapping".to_owned(),
                    ));
                }
                seen.insert(name.clone(), here);
            }
            *key = Some((name, here));
            return Ok(join(&top.path, "?key"));
        }
        FrameKind::Map { expecting_key: false, key, .. } => {
            let (name, key_loc) = key.clone().unwrap_or_else(|| (String::new(), here));
            (join(&top.path, &name), NodePos { key: Some(key_loc), value: here })
        }
    };
    positions.nodes.insert(path.clone(), pos);
    Ok(path)
}

/// A node of `size` expanded nodes ended: account for it and flip the parent map's key/value turn.
fn node_end(stack: &mut [Frame], size: usize) {
    if let Some(top) = stack.last_mut() {
        top.size = top.size.saturating_add(size);
        if let FrameKind::Map { expecting_key, .. } = &mut top.kind {
            *expecting_key = !*expecting_key;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(text: &str) -> Positions {
        match structure_pass(text) {
            Ok(p) => p,
            Err(StructureError::Limit(l, m, _)) | Err(StructureError::Syntax(l, m)) => panic!("{l:?} {m}"),
        }
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
        let Err(StructureError::Limit(l, m, _)) = structure_pass("a: 1\nb:\n  c: 1\n  c: 2\n") else { panic!() };
        assert_eq!(l, Location { line: 4, column: 3 });
        assert_eq!(m, "duplicate key `c` (first at line 3, column 3)");
    }

    #[test]
    fn same_key_in_sibling_maps_is_fine() {
        positions("- {a: 1}\n- {a: 2}\n");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = format!("a: {}1{}\n", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let Err(StructureError::Limit(l, m, _)) = structure_pass(&deep) else { panic!() };
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
        let Err(StructureError::Limit(l, m, _)) = structure_pass(&bomb) else { panic!() };
        assert!(m.contains("aliases expand"), "{m}");
        assert!(l.line >= 6, "{l:?}");
        // A few honest aliases are fine.
        positions("x: &x {a: 1}\ny: *x\nz: *x\n");
    }

    /// Pins two hostile-input fixes: past 255 flow levels saphyr gives up with a "syntax" error,
    /// which used to hand the file to libyaml (quadratic in the depth: minutes for 100k `[`);
    /// and flat documents of millions of nodes are refused before they fill memory.
    #[test]
    fn very_deep_flow_nesting_and_huge_flat_documents_hit_the_bounds() {
        let deep = format!("a: {}\n", "[".repeat(100_000));
        let Err(StructureError::Limit(_, m, _)) = structure_pass(&deep) else { panic!() };
        assert!(m.contains("deeper than 64"), "{m}");
        let flat = format!("a: [{}1]\n", "1,".repeat(MAX_EXPANDED_NODES));
        let Err(StructureError::Limit(l, m, _)) = structure_pass(&flat) else { panic!() };
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
}
