//! Properties of the parser and printer, shared with the fuzz target through
//! `srs_conf::fuzz_parse`.

use std::sync::Arc;

use proptest::prelude::*;
use srs_conf::{fuzz_parse, parse_str, same_forest, to_text, Directive};

/// Characters that exercise every branch of the lexer.
fn syntax_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec![' ', '\n', '\t', '\r', ';', '{', '}', '"', '\'', '\\', '#']),
        3 => prop::char::range('a', 'e'),
        1 => any::<char>(),
    ]
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z_]{1,8}",
        2 => prop::collection::vec(syntax_char(), 0..12).prop_map(|v| v.into_iter().collect()),
        1 => any::<String>(),
    ]
}

fn name() -> impl Strategy<Value = String> {
    word().prop_filter("a directive name is never empty", |w| !w.is_empty())
}

fn directive() -> impl Strategy<Value = Directive> {
    let file: Arc<str> = Arc::from("gen.conf");
    let leaf_file = file.clone();
    let leaf = (name(), prop::collection::vec(word(), 0..4), any::<bool>()).prop_map(
        move |(name, args, block)| Directive {
            name,
            args,
            children: Vec::new(),
            block,
            file: leaf_file.clone(),
            line: 1,
        },
    );
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let file = file.clone();
        (
            name(),
            prop::collection::vec(word(), 0..3),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(move |(name, args, children)| Directive {
                name,
                args,
                children,
                block: true,
                file: file.clone(),
                line: 1,
            })
    })
}

fn check_error_line(text: &str) -> Result<(), TestCaseError> {
    if let Err(e) = parse_str(text, "fuzz.conf") {
        let lines = text.split('\n').count();
        let line = e.line().unwrap_or(0);
        prop_assert!(
            line >= 1 && line <= lines,
            "line {} of {}: {}",
            line,
            lines,
            e
        );
        let prefix = format!("fuzz.conf:{line}: ");
        prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printable_input_never_panics_and_errors_name_a_real_line(text in "[ -~\t\n]{0,400}") {
        check_error_line(&text)?;
        fuzz_parse(text.as_bytes());
    }

    #[test]
    fn syntax_heavy_input_never_panics_and_errors_name_a_real_line(
        chars in prop::collection::vec(syntax_char(), 0..300)
    ) {
        let text: String = chars.into_iter().collect();
        check_error_line(&text)?;
        fuzz_parse(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_keep_the_fuzz_invariant(data in prop::collection::vec(any::<u8>(), 0..300)) {
        fuzz_parse(&data);
    }

    #[test]
    fn printed_trees_parse_back_to_the_same_tree(tree in prop::collection::vec(directive(), 0..6)) {
        let text = to_text(&tree);
        let again = parse_str(&text, "printed.conf");
        prop_assert!(again.is_ok(), "{:?}\n{}", again, text);
        let again = again.unwrap();
        prop_assert!(same_forest(&tree, &again), "{}", text);
    }
}
