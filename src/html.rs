//! Telegram's HTML parse mode, the part both the alert messages and the
//! chat replies need: escaping any text that goes into a message, the
//! plain text a reader sees (for length limits, the plain-text fallback and
//! the terminal), its length as Telegram counts it, and cutting a message
//! between lines without breaking its markup, or inside a line that is
//! too long to keep whole. Telegram's length limits live here too, next to
//! the code that measures text against them.

/// Telegram's limit on a message's visible text, in UTF-16 code units.
pub const TEXT_LIMIT: usize = 4096;

/// Telegram's limit on a photo caption's visible text.
pub const CAPTION_LIMIT: usize = 1024;

/// Escapes text for Telegram's HTML parse mode (`&`, `<`, `>`, `"`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The text a reader sees: tags removed, entities decoded.
pub fn to_plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            match rest.find('>') {
                Some(end) => rest = &rest[end + 1..],
                None => {
                    out.push_str(rest);
                    rest = "";
                }
            }
        } else {
            let decoded = ENTITIES.iter().find(|(e, _)| rest.starts_with(e));
            match decoded {
                Some((e, c)) => {
                    out.push(*c);
                    rest = &rest[e.len()..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// Visible length as Telegram counts it: UTF-16 code units of the text
/// after entity parsing.
pub fn visible_len(html: &str) -> usize {
    to_plain(html).encode_utf16().count()
}

/// Cuts `html` between lines into a head whose visible length is at most
/// `limit` and the rest: the longest head that ends at a line break
/// outside every tag (so both parts keep their tags balanced and no tag or
/// entity is cut). The line breaks at the cut are dropped from both parts.
/// The whole text and `""` when it fits; `""` and the whole text when not
/// even the first line fits.
pub fn split_at_line(html: &str, limit: usize) -> (&str, &str) {
    if visible_len(html) <= limit {
        return (html, "");
    }
    // Line breaks at tag depth 0, in order.
    let mut breaks = Vec::new();
    let mut depth = 0usize;
    let mut in_tag = false;
    for (i, b) in html.bytes().enumerate() {
        match b {
            b'<' if !in_tag => {
                in_tag = true;
                if html[i..].starts_with("</") {
                    depth = depth.saturating_sub(1);
                } else {
                    depth += 1;
                }
            }
            b'>' if in_tag => in_tag = false,
            b'\n' if !in_tag && depth == 0 => breaks.push(i),
            _ => {}
        }
    }
    // The prefixes only grow, so the last one that fits is found by
    // bisection.
    let fits = breaks.partition_point(|&i| visible_len(&html[..i]) <= limit);
    match fits.checked_sub(1).map(|k| breaks[k]) {
        Some(i) => (
            html[..i].trim_end_matches('\n'),
            html[i..].trim_start_matches('\n'),
        ),
        None => ("", html),
    }
}

/// `html` with `line` added as its last line, within `limit` visible
/// characters: when both do not fit, `html` is [`cut`] and `line` kept
/// whole (a line longer than `limit` is cut too).
pub fn with_last_line(html: &str, line: &str, limit: usize) -> String {
    let room = limit.saturating_sub(visible_len(line) + 1);
    if room == 0 {
        return cut(line, limit);
    }
    let head = if visible_len(html) <= room {
        std::borrow::Cow::Borrowed(html)
    } else {
        std::borrow::Cow::Owned(cut(html, room))
    };
    format!("{head}\n{line}")
}

/// The longest prefix of `html` whose visible length is at most `limit`,
/// as markup that stands on its own: the cut falls between characters,
/// never inside a tag or an entity, and the tags still open there are
/// closed. Tags that would open or close after the last character kept are
/// left out, so the result has no empty elements. For a line too long to
/// keep whole; [`split_at_line`] is the cut to prefer.
pub fn cut(html: &str, limit: usize) -> String {
    // Tags seen since the last kept character: applied to `open` only once
    // another character fits.
    enum Tag<'a> {
        Open(&'a str),
        Close(&'a str),
    }
    let mut open: Vec<&str> = Vec::new();
    let mut pending: Vec<Tag> = Vec::new();
    let mut kept_end = 0;
    let mut used = 0usize;
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with('<') {
            if let Some(end) = rest.find('>') {
                let inner = &rest[1..end];
                let tag = match inner.strip_prefix('/') {
                    Some(name) => Tag::Close(tag_name(name)),
                    None => Tag::Open(tag_name(inner)),
                };
                pending.push(tag);
                i += end + 1;
                continue;
            }
        }
        // One visible character: an entity or one char, as `to_plain` reads it.
        let (len, units) = match ENTITIES.iter().find(|(e, _)| rest.starts_with(e)) {
            Some((e, c)) => (e.len(), c.len_utf16()),
            None => {
                let c = rest.chars().next().unwrap_or_default();
                (c.len_utf8(), c.len_utf16())
            }
        };
        if used + units > limit {
            break;
        }
        used += units;
        for tag in pending.drain(..) {
            match tag {
                Tag::Open(name) => open.push(name),
                Tag::Close(name) => {
                    if let Some(k) = open.iter().rposition(|&o| o == name) {
                        open.truncate(k);
                    }
                }
            }
        }
        i += len;
        kept_end = i;
    }
    if i >= html.len() {
        return html.to_string();
    }
    let mut out = html[..kept_end].to_string();
    for name in open.iter().rev() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out
}

/// The entities Telegram's HTML parse mode decodes.
const ENTITIES: [(&str, char); 4] = [
    ("&lt;", '<'),
    ("&gt;", '>'),
    ("&amp;", '&'),
    ("&quot;", '"'),
];

/// A tag's name: what comes before its attributes.
fn tag_name(inner: &str) -> &str {
    let end = inner
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(inner.len());
    &inner[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_line_is_kept_whole_within_the_limit() {
        assert_eq!(with_last_line("<b>a</b>", "🙋 x", 100), "<b>a</b>\n🙋 x");
        let long = format!("<b>{}</b>", "y".repeat(TEXT_LIMIT));
        let line = "🙋 Taken by @alice at 12:00";
        let out = with_last_line(&long, line, TEXT_LIMIT);
        assert!(
            out.ends_with(&format!("</b>\n{line}")),
            "{}",
            &out[out.len() - 60..]
        );
        assert_eq!(visible_len(&out), TEXT_LIMIT);
        assert_eq!(with_last_line("abc", "defgh", 4), "defg");
    }

    #[test]
    fn escape_and_plain_round_trip() {
        let hostile = r#"<>&"'_*[]"#;
        assert_eq!(to_plain(&format!("<b>{}</b>", escape(hostile))), hostile);
        assert_eq!(to_plain("<b>a</b> &amp;lt;"), "a &lt;");
        assert_eq!(to_plain("a & b <i"), "a & b <i");
    }

    #[test]
    fn split_keeps_tags_whole_and_loses_nothing() {
        // A tag spanning lines, entities, and multi-unit characters.
        let html =
            "🔥 <b>FIRING</b> (1)\n\n<i>one\ntwo &amp; three</i>\n<code>a=&lt;b&gt;</code>\nend 😀";
        let total = visible_len(html);
        for limit in 0..=total + 1 {
            let (head, rest) = split_at_line(html, limit);
            assert!(visible_len(head) <= limit, "{limit}: {head}");
            for part in [head, rest] {
                assert_eq!(part.matches("<i>").count(), part.matches("</i>").count());
                assert_eq!(
                    part.matches("<code>").count(),
                    part.matches("</code>").count()
                );
            }
            let (h, r) = (to_plain(head), to_plain(rest));
            let whole = to_plain(html);
            if r.is_empty() {
                assert_eq!(h, whole);
                assert!(limit >= total);
            } else if h.is_empty() {
                assert_eq!(r, whole);
            } else {
                let middle = &whole[h.len()..whole.len() - r.len()];
                assert!(whole.starts_with(&h) && whole.ends_with(&r));
                assert!(
                    !middle.is_empty() && middle.chars().all(|c| c == '\n'),
                    "{middle:?}"
                );
            }
        }
        // Never inside the <i> block that spans two lines.
        assert_eq!(
            split_at_line(html, 20).0,
            "🔥 FIRING (1)".replace("FIRING", "<b>FIRING</b>")
        );
        assert_eq!(visible_len("<b>é😀</b> &amp;"), 5);
    }

    #[test]
    fn cut_keeps_markup_whole_and_closes_what_is_open() {
        let html = "<b>ab &amp; <i>c😀d</i></b> <a href=\"x\">e</a>";
        let total = visible_len(html);
        for limit in 0..=total + 1 {
            let head = cut(html, limit);
            assert!(visible_len(&head) <= limit, "{limit}: {head}");
            // As much as fits: one more character would not.
            let plain = to_plain(&head);
            let whole = to_plain(html);
            assert!(whole.starts_with(&plain), "{limit}: {head}");
            if plain.len() < whole.len() {
                let next = whole[plain.len()..].chars().next().unwrap();
                assert!(visible_len(&head) + next.len_utf16() > limit, "{limit}");
            }
            for tag in ["b", "i", "a"] {
                let opens = head.matches(&format!("<{tag}")).count();
                assert_eq!(opens, head.matches(&format!("</{tag}>")).count(), "{head}");
            }
            assert!(
                !head.contains("<i></i>") && !head.contains("<b></b>"),
                "{head}"
            );
        }
        assert_eq!(cut(html, 4), "<b>ab &amp;</b>");
        // The emoji is two units: never half of it.
        assert_eq!(cut(html, 7), "<b>ab &amp; <i>c</i></b>");
        assert_eq!(cut(html, 8), "<b>ab &amp; <i>c😀</i></b>");
        assert_eq!(cut(html, total), html);
        assert_eq!(cut("a & b <i", 3), "a &");
    }
}
