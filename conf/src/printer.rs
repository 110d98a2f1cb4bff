//! Directive tree → config text, the inverse of [`crate::parse_str`].
//!
//! The output is canonical (4-space indent, one directive a line, no comments) and always
//! parses back to the same tree ([`crate::same_forest`]): that is the invariant the fuzz
//! target and the property tests check. Words that the parser would split or misread are
//! double-quoted, with `"` and `\` escaped.

use std::fmt;

use crate::parser::{is_space, Directive};

/// Prints a list of directives (a whole file) as config text.
///
/// A directive with children is printed as a block even if `block` is false, so that no
/// child is ever lost.
pub fn to_text(directives: &[Directive]) -> String {
    let mut out = String::new();
    for d in directives {
        write_directive(&mut out, d, 0);
    }
    out
}

impl fmt::Display for Directive {
    /// The directive and its children, as config text (see [`to_text`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_directive(&mut out, self, 0);
        f.write_str(&out)
    }
}

fn write_directive(out: &mut String, d: &Directive, depth: usize) {
    for _ in 0..depth {
        out.push_str("    ");
    }
    write_word(out, &d.name);
    for arg in &d.args {
        out.push(' ');
        write_word(out, arg);
    }
    if d.block || !d.children.is_empty() {
        out.push_str(" {\n");
        for child in &d.children {
            write_directive(out, child, depth + 1);
        }
        for _ in 0..depth {
            out.push_str("    ");
        }
        out.push_str("}\n");
    } else {
        out.push_str(";\n");
    }
}

/// Whether `word` must be quoted to read back as one word with the same text.
fn needs_quotes(word: &str) -> bool {
    word.is_empty()
        || word
            .chars()
            .any(|c| is_space(c) || matches!(c, ';' | '{' | '}' | '#' | '"' | '\''))
}

fn write_word(out: &mut String, word: &str) {
    if !needs_quotes(word) {
        out.push_str(word);
        return;
    }
    out.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{parse_str, same_forest};

    #[test]
    fn prints_canonical_text() {
        let tree = parse_str(
            "listen 1935 1936;\nvhost a.com {gop_cache on; play{} }\n# c\n",
            "t.conf",
        )
        .unwrap();
        assert_eq!(
            to_text(&tree),
            "listen 1935 1936;\nvhost a.com {\n    gop_cache on;\n    play {\n    }\n}\n"
        );
    }

    #[test]
    fn quotes_words_that_need_it() {
        let tree = parse_str(
            r##"a "" "x y" "semi;" "br{" "}" "#h" "q\"q" 'it''s' "back\\slash" plain\w;"##,
            "t.conf",
        );
        // 'it''s' is two quoted words glued together: rejected, like SRS.
        assert!(tree.is_err());

        let tree = parse_str(
            r##"a "" "x y" "semi;" "br{" "}" "#h" "q\"q" 'it\'s' "back\\slash" plain\w;"##,
            "t.conf",
        )
        .unwrap();
        assert_eq!(
            tree[0].args,
            [
                "",
                "x y",
                "semi;",
                "br{",
                "}",
                "#h",
                "q\"q",
                "it's",
                "back\\slash",
                "plain\\w"
            ]
        );
        let text = to_text(&tree);
        assert_eq!(
            text,
            "a \"\" \"x y\" \"semi;\" \"br{\" \"}\" \"#h\" \"q\\\"q\" \"it's\" back\\slash plain\\w;\n"
        );
        assert!(same_forest(&tree, &parse_str(&text, "u.conf").unwrap()));
    }

    #[test]
    fn display_prints_one_directive() {
        let tree = parse_str("vhost a { enabled on; }", "t.conf").unwrap();
        assert_eq!(tree[0].to_string(), "vhost a {\n    enabled on;\n}\n");
    }
}
