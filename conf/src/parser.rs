//! The SRS (nginx-style) config syntax: text in, a tree of [`Directive`]s out. No I/O.
//!
//! The grammar, as SRS's `SrsConfDirective::read_token` (itself modelled on nginx's
//! `ngx_conf_read_token`) accepts it, with two deliberate differences noted below:
//!
//! ```text
//! file      = { directive }
//! directive = word { word } ( ";" | "{" { directive } "}" )
//! word      = bare | '"' chars '"' | "'" chars "'"
//! ```
//!
//! - Whitespace is space, tab, CR and LF, anywhere between tokens. (SRS insists that a
//!   directive fits on one line; we let it span lines, as nginx does.)
//! - `#` at the start of a token starts a comment that runs to the end of the line. Inside a
//!   word (`http://a/b#c`) it is an ordinary character.
//! - A bare word ends at whitespace, `;` or `{`. `}` only closes a block at the start of a
//!   token, as in SRS and nginx.
//! - Quotes are removed. Inside a quoted word, a backslash escapes the quote character and
//!   itself (`"a \"b\" c\\d"` is `a "b" c\d`); any other backslash is kept as is. (SRS has no
//!   escapes at all.) An empty quoted word `""` is kept as an empty argument (SRS drops it).
//! - `include` is an ordinary directive at this level; [`crate::include`] resolves it.
//!
//! Errors carry the file and line; see [`ConfError`]. The limits of [`crate::limits`] keep a
//! hostile or broken file from costing unbounded memory or stack.

use std::iter::Peekable;
use std::str::Chars;
use std::sync::Arc;

use crate::error::ConfError;
use crate::limits::{MAX_DEPTH, MAX_FILE_SIZE, MAX_TOKEN_CHARS};

/// One directive of the config tree: `name args...;` or `name args... { children }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The first word, e.g. `listen` or `vhost`. Never empty.
    pub name: String,
    /// The other words, quotes removed, e.g. `["1935", "1936"]`.
    pub args: Vec<String>,
    /// The directives inside `{ ... }`; empty when `block` is false.
    pub children: Vec<Directive>,
    /// Whether the directive was written with a block (`vhost a { }`), even an empty one,
    /// rather than ended by `;`.
    pub block: bool,
    /// The file the directive was read from (shared by all directives of that file).
    pub file: Arc<str>,
    /// 1-based line of the directive's first word.
    pub line: usize,
}

impl Directive {
    /// The first argument, if any. Most directives take exactly one.
    pub fn arg0(&self) -> Option<&str> {
        self.args.first().map(String::as_str)
    }

    /// `file:line` of this directive, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// Whether two trees say the same thing: same names, arguments, block-ness and children,
    /// wherever they were written (`file` and `line` are not compared).
    pub fn same_tree(&self, other: &Directive) -> bool {
        self.name == other.name
            && self.args == other.args
            && self.block == other.block
            && same_forest(&self.children, &other.children)
    }
}

/// [`Directive::same_tree`] for two lists of directives.
pub fn same_forest(a: &[Directive], b: &[Directive]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_tree(y))
}

/// Parses config text into its directive tree. Pure: `include` directives are kept as they
/// are (see [`crate::include::resolve_includes`] to expand them).
///
/// `file_name` is only used in the tree (`Directive::file`) and in error messages.
///
/// ```
/// let tree = srs_conf::parse_str("listen 1935;\nvhost a { gop_cache on; }\n", "x.conf").unwrap();
/// assert_eq!(tree[1].name, "vhost");
/// assert_eq!(tree[1].children[0].args, ["on"]);
/// assert_eq!(tree[1].line, 2);
/// ```
pub fn parse_str(text: &str, file_name: &str) -> Result<Vec<Directive>, ConfError> {
    parse_text(text, Arc::from(file_name))
}

/// Like [`parse_str`], for raw bytes: fails with a syntax error naming the line when the bytes
/// are not UTF-8.
pub fn parse_bytes(data: &[u8], file_name: &str) -> Result<Vec<Directive>, ConfError> {
    parse_bytes_arc(data, Arc::from(file_name))
}

pub(crate) fn parse_bytes_arc(data: &[u8], file: Arc<str>) -> Result<Vec<Directive>, ConfError> {
    if data.len() > MAX_FILE_SIZE {
        return Err(too_large(file));
    }
    match std::str::from_utf8(data) {
        Ok(text) => parse_text(text, file),
        Err(e) => {
            let line = 1 + data[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Err(ConfError::Syntax {
                file,
                line,
                message: "invalid UTF-8".to_string(),
            })
        }
    }
}

fn too_large(file: Arc<str>) -> ConfError {
    ConfError::Limit {
        file,
        line: 1,
        message: format!("file is larger than {MAX_FILE_SIZE} bytes"),
    }
}

pub(crate) fn parse_text(text: &str, file: Arc<str>) -> Result<Vec<Directive>, ConfError> {
    if text.len() > MAX_FILE_SIZE {
        return Err(too_large(file));
    }
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        file: &file,
    };

    // Blocks still open, innermost last; `top` collects the finished top-level directives.
    let mut open: Vec<Directive> = Vec::new();
    let mut top: Vec<Directive> = Vec::new();
    // The words of the directive being read, and the line of its first word.
    let mut words: Vec<String> = Vec::new();
    let mut first_line = 0;

    loop {
        match lexer.next_token()? {
            Token::Word { text, line } => {
                if words.is_empty() {
                    first_line = line;
                }
                words.push(text);
            }
            Token::Semicolon { line } => {
                if words.is_empty() {
                    return Err(syntax(&file, line, "empty directive: unexpected \";\""));
                }
                let d = directive(&file, std::mem::take(&mut words), false, first_line)?;
                open.last_mut()
                    .map_or(&mut top, |b| &mut b.children)
                    .push(d);
            }
            Token::OpenBrace { line } => {
                if words.is_empty() {
                    return Err(syntax(&file, line, "empty directive: unexpected \"{\""));
                }
                if open.len() >= MAX_DEPTH {
                    return Err(ConfError::Limit {
                        file: file.clone(),
                        line: first_line,
                        message: format!("blocks nested deeper than {MAX_DEPTH} levels"),
                    });
                }
                open.push(directive(
                    &file,
                    std::mem::take(&mut words),
                    true,
                    first_line,
                )?);
            }
            Token::CloseBrace { line } => {
                if let Some(name) = words.first() {
                    return Err(missing_semicolon(&file, first_line, name));
                }
                let Some(done) = open.pop() else {
                    return Err(syntax(&file, line, "unexpected \"}\""));
                };
                open.last_mut()
                    .map_or(&mut top, |b| &mut b.children)
                    .push(done);
            }
            Token::Eof => {
                if let Some(name) = words.first() {
                    return Err(missing_semicolon(&file, first_line, name));
                }
                if let Some(block) = open.last() {
                    return Err(syntax(
                        &file,
                        block.line,
                        &format!(
                            "unterminated block \"{}\": missing \"}}\" before end of file",
                            block.name
                        ),
                    ));
                }
                return Ok(top);
            }
        }
    }
}

fn syntax(file: &Arc<str>, line: usize, message: &str) -> ConfError {
    ConfError::Syntax {
        file: file.clone(),
        line,
        message: message.to_string(),
    }
}

fn missing_semicolon(file: &Arc<str>, line: usize, name: &str) -> ConfError {
    syntax(
        file,
        line,
        &format!("missing \";\" after directive \"{name}\""),
    )
}

fn directive(
    file: &Arc<str>,
    mut words: Vec<String>,
    block: bool,
    line: usize,
) -> Result<Directive, ConfError> {
    let name = words.remove(0);
    if name.is_empty() {
        return Err(syntax(file, line, "empty directive name"));
    }
    Ok(Directive {
        name,
        args: words,
        children: Vec::new(),
        block,
        file: file.clone(),
        line,
    })
}

/// What the lexer hands the parser. Lines are 1-based.
enum Token {
    Word { text: String, line: usize },
    Semicolon { line: usize },
    OpenBrace { line: usize },
    CloseBrace { line: usize },
    Eof,
}

/// The whitespace SRS knows (`is_common_space`): other Unicode spaces are word characters.
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    /// Line of the next character to read.
    line: usize,
    file: &'a Arc<str>,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn next_token(&mut self) -> Result<Token, ConfError> {
        loop {
            let line = self.line;
            match self.chars.peek().copied() {
                None => return Ok(Token::Eof),
                Some(c) if is_space(c) => {
                    self.bump();
                }
                Some('#') => {
                    // A comment runs to the end of the line; the newline itself is whitespace.
                    while self.chars.peek().is_some_and(|&c| c != '\n') {
                        self.bump();
                    }
                }
                Some(';') => {
                    self.bump();
                    return Ok(Token::Semicolon { line });
                }
                Some('{') => {
                    self.bump();
                    return Ok(Token::OpenBrace { line });
                }
                Some('}') => {
                    self.bump();
                    return Ok(Token::CloseBrace { line });
                }
                Some(quote @ ('"' | '\'')) => return self.quoted(quote),
                Some(_) => return self.bare(),
            }
        }
    }

    fn too_long(&self, line: usize) -> ConfError {
        ConfError::Limit {
            file: self.file.clone(),
            line,
            message: format!("token longer than {MAX_TOKEN_CHARS} characters"),
        }
    }

    fn bare(&mut self) -> Result<Token, ConfError> {
        let line = self.line;
        let mut text = String::new();
        let mut count = 0usize;
        while let Some(&c) = self.chars.peek() {
            if is_space(c) || c == ';' || c == '{' {
                break;
            }
            count += 1;
            if count > MAX_TOKEN_CHARS {
                return Err(self.too_long(line));
            }
            text.push(c);
            self.bump();
        }
        Ok(Token::Word { text, line })
    }

    fn quoted(&mut self, quote: char) -> Result<Token, ConfError> {
        let line = self.line;
        self.bump(); // the opening quote
        let mut text = String::new();
        let mut count = 0usize;
        loop {
            let c = match self.bump() {
                None => {
                    return Err(syntax(
                        self.file,
                        line,
                        &format!("unterminated string: missing closing {quote}"),
                    ));
                }
                Some(c) if c == quote => break,
                Some('\\') => match self.chars.peek().copied() {
                    Some(next) if next == quote || next == '\\' => {
                        self.bump();
                        next
                    }
                    _ => '\\',
                },
                Some(c) => c,
            };
            count += 1;
            if count > MAX_TOKEN_CHARS {
                return Err(self.too_long(line));
            }
            text.push(c);
        }
        // Like SRS, a quoted word must stand alone: `"a"b` is more likely a typo than a wish
        // to glue two words together.
        match self.chars.peek().copied() {
            None => {}
            Some(c) if is_space(c) || matches!(c, ';' | '{' | '}' | '#') => {}
            Some(c) => {
                return Err(syntax(
                    self.file,
                    self.line,
                    &format!(
                        "unexpected character '{}' after quoted string, expecting a space, \";\" or \"{{\"",
                        c.escape_default()
                    ),
                ));
            }
        }
        Ok(Token::Word { text, line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Directive> {
        match parse_str(text, "t.conf") {
            Ok(tree) => tree,
            Err(e) => panic!("{e}"),
        }
    }

    fn error(text: &str) -> String {
        match parse_str(text, "t.conf") {
            Ok(tree) => panic!("parsed: {tree:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn directives_args_and_blocks() {
        let tree = parse("listen 1935 1936;\nvhost a.com {\n    enabled on;\n    play {}\n}\n");
        assert_eq!(tree.len(), 2);
        assert_eq!(tree[0].name, "listen");
        assert_eq!(tree[0].args, ["1935", "1936"]);
        assert!(!tree[0].block);
        assert_eq!(tree[0].line, 1);
        assert_eq!(&*tree[0].file, "t.conf");
        let vhost = &tree[1];
        assert_eq!(
            (vhost.name.as_str(), vhost.arg0(), vhost.block, vhost.line),
            ("vhost", Some("a.com"), true, 2)
        );
        assert_eq!(vhost.children.len(), 2);
        assert_eq!(
            (vhost.children[0].name.as_str(), vhost.children[0].line),
            ("enabled", 3)
        );
        let play = &vhost.children[1];
        assert!(play.block && play.children.is_empty() && play.args.is_empty());
        assert_eq!(play.line, 4);
        assert_eq!(vhost.location(), "t.conf:2");
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert!(parse("").is_empty());
        assert!(parse("  \n\t\r\n").is_empty());
        assert!(parse("# nothing\n   # here").is_empty());
    }

    #[test]
    fn comments_run_to_end_of_line() {
        let tree = parse("# head\nlisten 1935; # tail ; { }\n#x;\nhttp http://a/b#frag; a #c\n b;");
        assert_eq!(tree.len(), 3);
        assert_eq!(tree[0].args, ["1935"]);
        // `#` inside a word is an ordinary character.
        assert_eq!(tree[1].args, ["http://a/b#frag"]);
        // A comment can sit between the words of one directive.
        assert_eq!(
            (tree[2].name.as_str(), tree[2].args.as_slice()),
            ("a", &["b".to_string()][..])
        );
    }

    #[test]
    fn any_whitespace_between_tokens() {
        let tree = parse("vhost\n\ta.com\r\n{\n\tgop_cache\n   on\n ;}listen\t1935 ;");
        assert_eq!(tree[0].args, ["a.com"]);
        assert_eq!(tree[0].children[0].args, ["on"]);
        assert_eq!(tree[0].children[0].line, 4);
        assert_eq!(tree[1].line, 6);
        // No space needed before `{` or `;`.
        let tree = parse("vhost a{x y;}");
        assert_eq!(tree[0].args, ["a"]);
        assert_eq!(tree[0].children[0].args, ["y"]);
    }

    #[test]
    fn quoted_strings() {
        let tree = parse(
            "a \"x y\" 'p q' \"\" \"say \\\"hi\\\"\" 'it\\'s' \"c:\\\\d\" \"\\n\" \"semi;{}\";\nb \"multi\nline\";\nc d;",
        );
        assert_eq!(
            tree[0].args,
            [
                "x y",
                "p q",
                "",
                "say \"hi\"",
                "it's",
                "c:\\d",
                "\\n",
                "semi;{}"
            ]
        );
        assert_eq!(tree[1].args, ["multi\nline"]);
        // Lines keep counting inside a quoted string.
        assert_eq!(tree[2].line, 4);
        // Quotes only start a string at the start of a word.
        assert_eq!(parse("a b\"c;")[0].args, ["b\"c"]);
        // A quoted word may be followed by a brace, a semicolon or a comment.
        let tree = parse("\"a b\"{\"c\";}'d'#x\n;");
        assert_eq!(tree[0].name, "a b");
        assert_eq!(tree[0].children[0].name, "c");
        assert_eq!(tree[1].name, "d");
    }

    #[test]
    fn unexpected_close_brace() {
        assert_eq!(error("listen 1935;\n}\n"), "t.conf:2: unexpected \"}\"");
        assert_eq!(error("a {\n}\n\n}"), "t.conf:4: unexpected \"}\"");
    }

    #[test]
    fn unterminated_block() {
        assert_eq!(
            error("listen 1935;\nvhost a {\n  enabled on;\n"),
            "t.conf:2: unterminated block \"vhost\": missing \"}\" before end of file"
        );
        // The innermost open block is named.
        assert_eq!(
            error("vhost a {\n  play {\n    gop_cache on;\n}\n"),
            "t.conf:1: unterminated block \"vhost\": missing \"}\" before end of file"
        );
        assert_eq!(
            error("vhost a {\n  play {\n"),
            "t.conf:2: unterminated block \"play\": missing \"}\" before end of file"
        );
    }

    #[test]
    fn missing_semicolon() {
        assert_eq!(
            error("vhost a {\n    gop_cache on\n}\n"),
            "t.conf:2: missing \";\" after directive \"gop_cache\""
        );
        assert_eq!(
            error("listen 1935;\nmax_connections 10"),
            "t.conf:2: missing \";\" after directive \"max_connections\""
        );
        assert_eq!(
            error("daemon \"off\""),
            "t.conf:1: missing \";\" after directive \"daemon\""
        );
    }

    #[test]
    fn unterminated_string() {
        assert_eq!(
            error("a b;\nc \"open\n\nmore;"),
            "t.conf:2: unterminated string: missing closing \""
        );
        assert_eq!(
            error("x 'a"),
            "t.conf:1: unterminated string: missing closing '"
        );
        // An escaped quote does not close the string.
        assert_eq!(
            error("x \"a\\\""),
            "t.conf:1: unterminated string: missing closing \""
        );
    }

    #[test]
    fn empty_directive() {
        assert_eq!(
            error("listen 1935;\n;\n"),
            "t.conf:2: empty directive: unexpected \";\""
        );
        assert_eq!(error("a;;"), "t.conf:1: empty directive: unexpected \";\"");
        assert_eq!(
            error("\n\n{ a; }"),
            "t.conf:3: empty directive: unexpected \"{\""
        );
        assert_eq!(error("\"\" a;"), "t.conf:1: empty directive name");
    }

    #[test]
    fn glued_quoted_word() {
        assert_eq!(
            error("a\n\"b\"c;"),
            "t.conf:2: unexpected character 'c' after quoted string, expecting a space, \";\" or \"{\""
        );
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let err = parse_bytes(b"a b;\nc \xff;\n", "t.conf").unwrap_err();
        assert_eq!(err.to_string(), "t.conf:2: invalid UTF-8");
    }

    #[test]
    fn token_length_limit() {
        let ok = format!("a {};", "x".repeat(MAX_TOKEN_CHARS));
        assert_eq!(parse(&ok)[0].args[0].len(), MAX_TOKEN_CHARS);
        let long = format!("a;\nb {};", "x".repeat(MAX_TOKEN_CHARS + 1));
        assert_eq!(error(&long), "t.conf:2: token longer than 4096 characters");
        // The limit is on the word, after escapes: 4096 escaped quotes are fine.
        let quoted = format!("a \"{}\";", "\\\"".repeat(MAX_TOKEN_CHARS));
        assert_eq!(parse(&quoted)[0].args[0].len(), MAX_TOKEN_CHARS);
        let quoted = format!("a '{}';", "y".repeat(MAX_TOKEN_CHARS + 1));
        assert_eq!(
            error(&quoted),
            "t.conf:1: token longer than 4096 characters"
        );
    }

    #[test]
    fn nesting_limit() {
        let ok = format!("{}{}", "a {\n".repeat(MAX_DEPTH), "}\n".repeat(MAX_DEPTH));
        assert_eq!(parse(&ok).len(), 1);
        let deep = format!(
            "{}{}",
            "a {\n".repeat(MAX_DEPTH + 1),
            "}\n".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(
            error(&deep),
            "t.conf:33: blocks nested deeper than 32 levels"
        );
    }

    #[test]
    fn file_size_limit() {
        let big = "#".repeat(MAX_FILE_SIZE + 1);
        assert_eq!(
            error(&big),
            format!("t.conf:1: file is larger than {MAX_FILE_SIZE} bytes")
        );
        let ok = format!("a;{}", "#".repeat(MAX_FILE_SIZE - 2));
        assert_eq!(parse(&ok).len(), 1);
    }

    #[test]
    fn same_tree_ignores_positions() {
        let a = parse_str("a 1 { b; }", "x.conf").unwrap();
        let b = parse_str("\n\n# c\na 1 {\n b;\n}", "y.conf").unwrap();
        assert_ne!(a, b);
        assert!(same_forest(&a, &b));
        let c = parse_str("a 1 { b 2; }", "x.conf").unwrap();
        assert!(!same_forest(&a, &c));
        let d = parse_str("a 1;", "x.conf").unwrap();
        assert!(!same_forest(&d, &parse_str("a 1 {}", "x.conf").unwrap()));
    }
}
