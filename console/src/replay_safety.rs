//! What the player does to a recording before rrweb's Replayer sees it: a recording is
//! outside input (whatever the recorded page held, or whatever a client uploaded), so the
//! replayed document must not fetch anything, must not navigate and must not run anything.
//!
//! The replay iframe is sandboxed without `allow-scripts` and the player page has a strict
//! Content-Security-Policy; this is the first of those three walls: every attribute and
//! style that would make the browser fetch (`src`, `srcset`, `poster`, `background`,
//! `href` outside `<a>`/`<area>`, `xlink:href`, `url(...)` other than `data:`,
//! `@import`, `image-set(...)`) is removed or neutralised, `<meta http-equiv>` loses its
//! effect, and the event kinds a replay does not need (canvas, fonts, assets, plugins,
//! console logs, custom elements) are dropped.
//!
//! rrweb's event shapes (`eventWithTime` of `@rrweb/types` 2.1.6): `type` 2 is a full
//! snapshot (`data.node`, a serialized tree), 3 an incremental snapshot whose
//! `data.source` 0 is a mutation (`adds[].node`, `attributes[].attributes`, `texts[]`),
//! 8 a style sheet rule, 13 a style declaration, 15 an adopted style sheet.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

/// What a neutralised `url(...)` becomes: an empty `data:` URL, which fetches nothing.
const EMPTY_URL: &str = "url(\"data:,\")";

/// Event types kept: DOM content loaded, load, full snapshot, incremental snapshot, meta
/// and custom events. Plugin (6), asset (7) and annotation (8) events are dropped.
const KEPT_EVENT_TYPES: [i64; 6] = [0, 1, 2, 3, 4, 5];

/// Incremental sources kept: mutation, mouse move, mouse interaction, scroll, viewport
/// resize, input, touch move, media interaction, style sheet rule, drag, style
/// declaration, selection, adopted style sheet. Canvas (9), font (10), log (11) and
/// custom element (16) are dropped.
const KEPT_SOURCES: [i64; 13] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15];

/// Attributes that fetch on any element.
const FETCHING_ATTRIBUTES: [&str; 7] = [
    "src",
    "srcset",
    "poster",
    "background",
    "xlink:href",
    "data",
    "lowsrc",
];

/// Elements whose `href` is a link to follow, not a resource to fetch.
const LINK_ELEMENTS: [&str; 2] = ["a", "area"];

/// What the sanitiser remembers of the nodes it saw, to judge later attribute and text
/// mutations that name a node only by id.
#[derive(Debug, Default)]
pub struct Sanitizer {
    /// The tag name of every element seen, by node id.
    tags: HashMap<i64, String>,
    /// Ids of text nodes inside `<style>`, whose text is CSS.
    style_texts: HashSet<i64>,
}

impl Sanitizer {
    /// A sanitiser that has seen nothing yet (one per replayed tab, fed in order).
    pub fn new() -> Self {
        Self::default()
    }

    /// The event made safe to replay, or `None` when its kind is dropped or it is not an
    /// rrweb event at all (an object with a numeric `type` and `timestamp`).
    pub fn event(&mut self, mut event: Value) -> Option<Value> {
        let kind = event.get("type")?.as_i64()?;
        event.get("timestamp")?.as_f64()?;
        if !KEPT_EVENT_TYPES.contains(&kind) {
            return None;
        }
        match kind {
            2 => {
                let node = event.get_mut("data")?.get_mut("node")?;
                self.node(node, None);
            }
            3 => {
                let data = event.get_mut("data")?;
                let source = data.get("source")?.as_i64()?;
                if !KEPT_SOURCES.contains(&source) {
                    return None;
                }
                self.incremental(source, data);
            }
            _ => {}
        }
        Some(event)
    }

    fn incremental(&mut self, source: i64, data: &mut Value) {
        match source {
            0 => self.mutation(data),
            8 => {
                for add in array_mut(data, "adds") {
                    if let Some(Value::String(rule)) = add.get_mut("rule") {
                        *rule = css(rule);
                    }
                }
            }
            13 => {
                if let Some(Value::String(value)) =
                    data.get_mut("set").and_then(|set| set.get_mut("value"))
                {
                    *value = css(value);
                }
            }
            15 => {
                for style in array_mut(data, "styles") {
                    for rule in array_mut(style, "rules") {
                        if let Some(Value::String(text)) = rule.get_mut("rule") {
                            *text = css(text);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn mutation(&mut self, data: &mut Value) {
        for add in array_mut(data, "adds") {
            let parent = add.get("parentId").and_then(Value::as_i64);
            if let Some(node) = add.get_mut("node") {
                self.node(node, parent);
            }
        }
        for change in array_mut(data, "attributes") {
            let tag = change
                .get("id")
                .and_then(Value::as_i64)
                .and_then(|id| self.tags.get(&id))
                .cloned()
                .unwrap_or_default();
            if let Some(Value::Object(attributes)) = change.get_mut("attributes") {
                attributes_of(&tag, attributes);
            }
        }
        for text in array_mut(data, "texts") {
            let is_css = text
                .get("id")
                .and_then(Value::as_i64)
                .is_some_and(|id| self.style_texts.contains(&id));
            if let (true, Some(Value::String(value))) = (is_css, text.get_mut("value")) {
                *value = css(value);
            }
        }
    }

    /// A serialized node and its children; `parent` is the id of the element it is in.
    fn node(&mut self, node: &mut Value, parent: Option<i64>) {
        let id = node.get("id").and_then(Value::as_i64);
        match node.get("type").and_then(Value::as_i64) {
            // An element: its attributes, then its children.
            Some(2) => {
                let tag = node
                    .get("tagName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if let Some(Value::Object(attributes)) = node.get_mut("attributes") {
                    attributes_of(&tag, attributes);
                }
                if let Some(id) = id {
                    self.tags.insert(id, tag);
                }
            }
            // A text node: CSS when rrweb marks it so or it sits in a `<style>`.
            Some(3) => {
                let in_style = node.get("isStyle").and_then(Value::as_bool) == Some(true)
                    || parent.and_then(|p| self.tags.get(&p)).map(String::as_str) == Some("style");
                if in_style {
                    if let Some(id) = id {
                        self.style_texts.insert(id);
                    }
                    if let Some(Value::String(text)) = node.get_mut("textContent") {
                        *text = css(text);
                    }
                }
            }
            _ => {}
        }
        for child in array_mut(node, "childNodes") {
            self.node(child, id);
        }
    }
}

/// The array under `key` of `value` (nothing when it is not an object holding an array).
fn array_mut<'a>(value: &'a mut Value, key: &str) -> std::slice::IterMut<'a, Value> {
    match value.get_mut(key) {
        Some(Value::Array(items)) => items.iter_mut(),
        _ => [].iter_mut(),
    }
}

/// One element's attributes (a snapshot's, or a mutation's changes with `null` for a
/// removed attribute, and an object of properties for a changed `style`).
fn attributes_of(tag: &str, attributes: &mut Map<String, Value>) {
    attributes.retain(|name, _| {
        let name = name.to_ascii_lowercase();
        let fetches = FETCHING_ATTRIBUTES.contains(&name.as_str())
            || (name == "href" && !LINK_ELEMENTS.contains(&tag))
            || name == "http-equiv"
            // Event handler attributes never run in the sandbox; they have no place here.
            || name.starts_with("on");
        !fetches
    });
    for (name, value) in attributes.iter_mut() {
        match (name.as_str(), value) {
            // rrweb keeps a linked style sheet's text here; it becomes a `<style>`.
            ("_csstext" | "_cssText" | "style", Value::String(text)) => *text = css(text),
            // A style mutation: property → value, or → [value, priority].
            ("style", Value::Object(properties)) => {
                for property in properties.values_mut() {
                    match property {
                        Value::String(text) => *text = css(text),
                        Value::Array(parts) => {
                            if let Some(Value::String(text)) = parts.first_mut() {
                                *text = css(text);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// CSS text with every fetch neutralised: `url(...)` other than `data:` becomes an empty
/// `data:` URL, `@import` becomes an unknown at-rule and `image-set(` an unknown function
/// (both of which CSS ignores).
pub fn css(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &lower[i..];
        if rest.starts_with("url(") {
            let start = i + "url(".len();
            let (inner, end) = match url_end(&text[start..]) {
                Some(n) => (&text[start..start + n], start + n + 1),
                None => (&text[start..], text.len()),
            };
            let unquoted = inner.trim().trim_matches(|c| c == '"' || c == '\'');
            if unquoted
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("data:")
            {
                out.push_str(&text[i..end]);
            } else {
                out.push_str(EMPTY_URL);
            }
            i = end;
        } else if rest.starts_with("@import") {
            out.push_str("@sg-blocked-import");
            i += "@import".len();
        } else if rest.starts_with("image-set(") {
            out.push_str("sg-blocked(");
            i += "image-set(".len();
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Where the `)` that closes a `url(` is in `rest` (the text after `url(`), skipping
/// quoted strings and escapes; `None` when it is never closed.
fn url_end(rest: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (n, c) in rest.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', _) => escaped = true,
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (')', None) => return Some(n),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full_snapshot(node: Value) -> Value {
        json!({"type": 2, "timestamp": 1, "data": {"node": node, "initialOffset": {"top": 0, "left": 0}}})
    }

    #[test]
    fn css_urls_other_than_data_are_emptied() {
        assert_eq!(
            css("a{background:url(/x.png)} b{background:URL( 'https://e.example/y' )}"),
            "a{background:url(\"data:,\")} b{background:url(\"data:,\")}"
        );
        assert_eq!(
            css("i{background:url(\"data:image/png;base64,AA==\")}"),
            "i{background:url(\"data:image/png;base64,AA==\")}"
        );
        assert_eq!(
            css("i{background:url(\"a)b.png\")}"),
            "i{background:url(\"data:,\")}"
        );
        // Never closed: everything after is dropped with it.
        assert_eq!(
            css("i{background:url(/never"),
            "i{background:url(\"data:,\")"
        );
        assert_eq!(
            css("@import url(/a.css); @IMPORT '/b.css';"),
            "@sg-blocked-import url(\"data:,\"); @sg-blocked-import '/b.css';"
        );
        assert_eq!(
            css("b{background:image-set('/a.png' 1x)}"),
            "b{background:sg-blocked('/a.png' 1x)}"
        );
        assert_eq!(css("p{color:red} /* é */"), "p{color:red} /* é */");
    }

    #[test]
    fn a_snapshot_loses_every_fetching_attribute() {
        let mut sanitizer = Sanitizer::new();
        let event = full_snapshot(json!({
            "type": 0, "id": 1, "childNodes": [
                {"type": 2, "id": 2, "tagName": "html", "attributes": {}, "childNodes": [
                    {"type": 2, "id": 3, "tagName": "link", "attributes": {"rel": "stylesheet", "href": "/c.css", "_cssText": "body{background:url(/bg.png)}"}, "childNodes": []},
                    {"type": 2, "id": 4, "tagName": "meta", "attributes": {"http-equiv": "refresh", "content": "0;url=/x"}, "childNodes": []},
                    {"type": 2, "id": 5, "tagName": "style", "attributes": {}, "childNodes": [
                        {"type": 3, "id": 6, "textContent": "@import '/i.css'; p{background:url(/p.png)}"}
                    ]},
                    {"type": 2, "id": 7, "tagName": "img", "attributes": {"src": "/a.png", "srcset": "/b.png 2x", "alt": "A", "onerror": "x()"}, "childNodes": []},
                    {"type": 2, "id": 8, "tagName": "video", "attributes": {"poster": "/p.jpg", "style": "background:url(/v.png)"}, "childNodes": []},
                    {"type": 2, "id": 9, "tagName": "a", "attributes": {"href": "/admin"}, "childNodes": [
                        {"type": 3, "id": 10, "textContent": "url(/not-css) stays text"}
                    ]},
                    {"type": 2, "id": 11, "tagName": "image", "isSVG": true, "attributes": {"href": "/s.svg", "xlink:href": "/t.svg"}, "childNodes": []}
                ]}
            ]
        }));
        let safe = sanitizer.event(event).expect("kept");
        let text = safe.to_string();
        for gone in [
            "/c.css",
            "/bg.png",
            "http-equiv",
            "@import",
            "/p.png",
            "/a.png",
            "/b.png",
            "onerror",
            "/p.jpg",
            "/v.png",
            "/s.svg",
            "/t.svg",
        ] {
            assert!(!text.contains(gone), "{gone} left in {text}");
        }
        for kept in [
            "\"alt\":\"A\"",
            "\"href\":\"/admin\"",
            "url(/not-css) stays text",
        ] {
            assert!(text.contains(kept), "{kept} missing from {text}");
        }
    }

    #[test]
    fn mutations_are_judged_by_the_nodes_seen_before() {
        let mut sanitizer = Sanitizer::new();
        sanitizer
            .event(full_snapshot(json!({"type": 0, "id": 1, "childNodes": [
                {"type": 2, "id": 2, "tagName": "link", "attributes": {}, "childNodes": []},
                {"type": 2, "id": 3, "tagName": "a", "attributes": {}, "childNodes": []}
            ]})))
            .expect("kept");
        let mutation = json!({"type": 3, "timestamp": 2, "data": {"source": 0,
            "adds": [
                {"parentId": 1, "nextId": null, "node": {"type": 2, "id": 4, "tagName": "style", "attributes": {}, "childNodes": []}},
                {"parentId": 4, "nextId": null, "node": {"type": 3, "id": 5, "textContent": "b{background:url(/added.png)}"}},
                {"parentId": 1, "nextId": null, "node": {"type": 2, "id": 6, "tagName": "iframe", "attributes": {"src": "/frame"}, "childNodes": []}}
            ],
            "attributes": [
                {"id": 2, "attributes": {"href": "/late.css"}},
                {"id": 3, "attributes": {"href": "/next-page"}},
                {"id": 6, "attributes": {"style": {"background": ["url(/s.png)", "important"], "color": "red"}}}
            ],
            "texts": [{"id": 5, "value": "b{background:url(/text.png)}"}],
            "removes": []
        }});
        let text = sanitizer.event(mutation).expect("kept").to_string();
        for gone in ["/added.png", "/frame", "/late.css", "/s.png", "/text.png"] {
            assert!(!text.contains(gone), "{gone} left in {text}");
        }
        assert!(text.contains("/next-page"), "{text}");
        assert!(text.contains("\"important\""), "{text}");
    }

    #[test]
    fn style_rules_and_declarations_are_neutralised() {
        let mut sanitizer = Sanitizer::new();
        let rule = json!({"type": 3, "timestamp": 2, "data": {"source": 8, "id": 1, "adds": [{"rule": "p{background:url(/r.png)}", "index": 0}]}});
        let declaration = json!({"type": 3, "timestamp": 2, "data": {"source": 13, "id": 1, "index": [0], "set": {"property": "background", "value": "url(/d.png)"}}});
        let adopted = json!({"type": 3, "timestamp": 2, "data": {"source": 15, "id": 1, "styleIds": [1], "styles": [{"styleId": 1, "rules": [{"rule": "p{background:url(/a.png)}"}]}]}});
        for event in [rule, declaration, adopted] {
            let text = sanitizer.event(event).expect("kept").to_string();
            assert!(text.contains("data:,") && !text.contains(".png"), "{text}");
        }
    }

    #[test]
    fn kinds_a_replay_does_not_need_and_non_events_are_dropped() {
        let mut sanitizer = Sanitizer::new();
        for dropped in [
            json!({"type": 7, "timestamp": 1, "data": {"url": "/x"}}),
            json!({"type": 6, "timestamp": 1, "data": {}}),
            json!({"type": 3, "timestamp": 1, "data": {"source": 10, "family": "f", "fontSource": "url(/f.woff)"}}),
            json!({"type": 3, "timestamp": 1, "data": {"source": 9, "id": 1, "commands": []}}),
            json!({"type": 3, "timestamp": 1, "data": {"source": 16}}),
            json!({"type": 2, "data": {}}),
            json!({"timestamp": 1}),
            json!("text"),
        ] {
            assert_eq!(sanitizer.event(dropped.clone()), None, "{dropped}");
        }
        let click = json!({"type": 3, "timestamp": 5, "data": {"source": 2, "type": 2, "id": 3, "x": 1, "y": 2}});
        assert_eq!(sanitizer.event(click.clone()), Some(click));
        let meta = json!({"type": 4, "timestamp": 1, "data": {"href": "http://h/admin", "width": 800, "height": 600}});
        assert_eq!(sanitizer.event(meta.clone()), Some(meta));
    }
}
