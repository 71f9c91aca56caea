//! Telegram's HTML parse mode, the part both the alert messages and the
//! chat replies need: escaping any text that goes into a message, and the
//! plain text a reader sees (for length limits, the plain-text fallback and
//! the terminal).

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
            let decoded = [
                ("&lt;", '<'),
                ("&gt;", '>'),
                ("&amp;", '&'),
                ("&quot;", '"'),
            ]
            .iter()
            .find(|(e, _)| rest.starts_with(e));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_plain_round_trip() {
        let hostile = r#"<>&"'_*[]"#;
        assert_eq!(to_plain(&format!("<b>{}</b>", escape(hostile))), hostile);
        assert_eq!(to_plain("<b>a</b> &amp;lt;"), "a &lt;");
        assert_eq!(to_plain("a & b <i"), "a & b <i");
    }
}
