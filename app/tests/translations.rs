//! Everything the citizen reads has its English: each Vietnamese text in
//! the kiosk's Rust sources is a message of the English catalogue, unless
//! it is data rather than wording (a demo certificate's subject, the
//! self-test's synthetic person).
//!
//! The same holds for the screens' own `@tr` texts (`ui/ui/*.slint`). That
//! the texts are looked up when shown is held by the controller's and the
//! widgets' tests in English.

use std::path::{Path, PathBuf};

use kiosk_ui::i18n::{Lang, has_translation, placeholders};

/// Vietnamese texts that are data, not wording.
const DATA: [&str; 5] = [
    // The demo token's certificate and its CA (app/src/demo/mod.rs).
    "/C=VN/CN=Lê Thị Hồng/UID=CCCD:001190000777",
    "CA Thử Nghiệm Kiosk",
    // kioskctl selftest's synthetic applicant.
    "Kiểm Tra Thiết Bị",
    // The demo counter's clerks (app/src/demo/mod.rs).
    "Nguyễn Thị Lan",
    "Lê Thị Hồng",
];

fn is_vietnamese(text: &str) -> bool {
    text.chars().any(|c| {
        "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ"
            .contains(c.to_lowercase().next().unwrap_or(c))
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of the string literal whose opening quote `chars` just passed,
/// with `\n` and `\"` read as Rust and Slint read them.
fn literal(chars: &mut impl Iterator<Item = char>) -> String {
    let mut text = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => text.push('\n'),
                Some(other) => text.push(other),
                None => break,
            },
            c => text.push(c),
        }
    }
    text
}

/// The `@tr` texts of a `.slint` file.
fn tr_texts(source: &str) -> Vec<String> {
    source
        .match_indices("@tr(\"")
        .map(|(at, _)| literal(&mut source[at + 5..].chars()))
        .collect()
}

/// The string literals of `source` outside comments and test modules.
fn literals(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut found = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '/' && chars.peek() == Some(&'/') {
                // A comment to the end of the line.
                break;
            }
            if c == '"' {
                found.push(literal(&mut chars));
            }
        }
    }
    found
}

#[test]
fn every_vietnamese_text_in_the_kiosk_has_its_english() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut missing = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for text in literals(&source) {
            if !is_vietnamese(&text) || DATA.contains(&text.as_str()) {
                continue;
            }
            checked += 1;
            if !has_translation(Lang::En, &text) {
                missing.push(format!("{}: {text}", file.display()));
            }
        }
    }
    assert!(checked > 120, "found only {checked} texts");
    assert!(
        missing.is_empty(),
        "no English for:\n{}",
        missing.join("\n")
    );
}

/// A text with `{}` written as `format!` would be looked up after its
/// arguments are in, and never be found.
#[test]
fn no_vietnamese_text_is_formatted_before_it_is_translated() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let code = source.split("#[cfg(test)]").next().unwrap_or(&source);
        for (at, _) in code.match_indices("format!(") {
            let rest = &code[at + 8..];
            let literal = rest
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next());
            if let Some(text) = literal {
                assert!(
                    !is_vietnamese(text) || DATA.contains(&text),
                    "{}: format! of Vietnamese wording: {text}",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn every_screen_text_has_its_english() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/ui");
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "slint") {
            texts.extend(tr_texts(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    assert!(texts.len() > 40, "found only {} @tr texts", texts.len());
    let missing: Vec<&String> = texts
        .iter()
        .filter(|t| !has_translation(Lang::En, t))
        .collect();
    assert!(missing.is_empty(), "no English for {missing:?}");
}

#[test]
fn the_literal_scanner_finds_what_it_must() {
    let found = literals(
        "let a = \"Mã {}\"; // \"Bỏ qua\"\n// \"Không\"\nf(\"x\\\"y\", \"Hai\\nDòng\");\n#[cfg(test)]\nmod t { \"Thử\" }",
    );
    assert_eq!(found, ["Mã {}", "x\"y", "Hai\nDòng"]);
    assert_eq!(placeholders(found[0].as_str()), 1);
    assert_eq!(
        tr_texts("text: @tr(\"Chờ {}\", n); x: @tr(\"Đăng ký tài khoản\\nCổng\");"),
        ["Chờ {}", "Đăng ký tài khoản\nCổng"]
    );
    assert!(is_vietnamese("Mã") && !is_vietnamese("Ma") && is_vietnamese("Đ"));
}
