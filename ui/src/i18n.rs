//! Vietnamese by default, English on request.
//!
//! The kiosk is written in Vietnamese: every text, in `.slint` and in Rust,
//! is its Vietnamese wording, and that wording is the message id of one
//! gettext catalogue per other language
//! (`translations/<lang>/LC_MESSAGES/kiosk-ui.po`). Slint bundles the
//! catalogue into the screens at build time for `@tr`
//! ([`select`] switches it); the texts Rust builds (field errors, the
//! method list, the result) look themselves up in the same catalogue
//! through [`Text`] and [`tr`], so a translator edits one file.
//!
//! Placeholders follow `@tr`: `{}` takes the next argument, `{0}` a given
//! one, `{{` and `}}` are braces.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the screens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Tiếng Việt: the source language, and the one every visit starts in.
    #[default]
    Vi,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Vi, Lang::En];

    /// The ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The language the switch offers from this one.
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    fn catalogue(self) -> Option<&'static HashMap<String, String>> {
        static ENGLISH: OnceLock<HashMap<String, String>> = OnceLock::new();
        match self {
            Lang::Vi => None,
            Lang::En => Some(ENGLISH.get_or_init(|| {
                parse_catalogue(include_str!("../translations/en/LC_MESSAGES/kiosk-ui.po"))
            })),
        }
    }
}

/// The translated entries of a `.po` file: msgid → msgstr. Untranslated and
/// fuzzy entries are left out, so they fall back to the Vietnamese.
fn parse_catalogue(po: &str) -> HashMap<String, String> {
    // The text itself, never a path: rspolib reads a file when one by that
    // name exists.
    let file = rspolib::pofile(po).expect("the bundled catalogue is a valid .po file");
    file.entries
        .into_iter()
        .filter(|e| !e.fuzzy() && !e.obsolete)
        .filter_map(|e| {
            let msgstr = e.msgstr.filter(|s| !s.is_empty())?;
            Some((e.msgid, msgstr))
        })
        .collect()
}

/// `vietnamese` in `lang`; the Vietnamese itself when the catalogue has no
/// translation.
pub fn tr(lang: Lang, vietnamese: &str) -> &str {
    lang.catalogue()
        .and_then(|c| c.get(vietnamese))
        .map_or(vietnamese, String::as_str)
}

/// Whether `lang` has its own wording for `vietnamese` (always for
/// Vietnamese).
pub fn has_translation(lang: Lang, vietnamese: &str) -> bool {
    lang.catalogue().is_none_or(|c| c.contains_key(vietnamese))
}

/// A text to show, kept as its Vietnamese template and arguments until a
/// language is chosen, so a screen already showing it can change language.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text {
    template: &'static str,
    args: Vec<String>,
}

impl std::fmt::Debug for Text {
    /// The template only: arguments may be a masked number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Text({:?})", self.template)
    }
}

impl Text {
    pub const fn new(template: &'static str) -> Text {
        Text {
            template,
            args: Vec::new(),
        }
    }

    /// `template` with its placeholders filled, in order, from `args`.
    pub fn with<I>(template: &'static str, args: I) -> Text
    where
        I: IntoIterator,
        I::Item: std::fmt::Display,
    {
        Text {
            template,
            args: args.into_iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The Vietnamese template: the catalogue's message id.
    pub fn template(&self) -> &'static str {
        self.template
    }

    pub fn is_empty(&self) -> bool {
        self.template.is_empty()
    }

    /// The text in `lang`. An argument that is itself a message of the
    /// catalogue ("9 hoặc 12") is translated too; numbers and masked phone
    /// numbers never are.
    pub fn render(&self, lang: Lang) -> String {
        let args: Vec<String> = self.args.iter().map(|a| tr(lang, a).to_string()).collect();
        fill(tr(lang, self.template), &args)
    }
}

impl From<&'static str> for Text {
    fn from(template: &'static str) -> Text {
        Text::new(template)
    }
}

/// A piece of a template: text as written, or a placeholder and the
/// argument it takes.
enum Piece<'a> {
    Text(&'a str),
    Arg { index: usize, written: &'a str },
}

/// Reads `template` the way `@tr` does: `{}` takes the next argument, `{N}`
/// argument N, `{{` and `}}` are braces, anything else is text.
fn pieces(template: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = template;
    let mut next = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (piece, after) = match rest.find(['{', '}']) {
            None => (Piece::Text(rest), ""),
            Some(at) if at > 0 => (Piece::Text(&rest[..at]), &rest[at..]),
            _ if rest.starts_with("{{") || rest.starts_with("}}") => {
                (Piece::Text(&rest[..1]), &rest[2..])
            }
            _ => {
                let arg = rest
                    .strip_prefix('{')
                    .and_then(|r| r.find('}'))
                    .and_then(|len| {
                        let inside = &rest[1..=len];
                        let index = if inside.is_empty() {
                            next += 1;
                            Some(next - 1)
                        } else {
                            inside.parse::<usize>().ok()
                        }?;
                        Some((index, len + 2))
                    });
                match arg {
                    Some((index, end)) => (
                        Piece::Arg {
                            index,
                            written: &rest[..end],
                        },
                        &rest[end..],
                    ),
                    None => (Piece::Text(&rest[..1]), &rest[1..]),
                }
            }
        };
        rest = after;
        Some(piece)
    })
}

/// Fills the placeholders of `template` from `args`; a placeholder with no
/// argument is left as it is.
pub fn fill(template: &str, args: &[String]) -> String {
    pieces(template)
        .map(|piece| match piece {
            Piece::Text(text) => text,
            Piece::Arg { index, written } => args.get(index).map_or(written, String::as_str),
        })
        .collect()
}

/// How many arguments `template` takes (the highest index used, plus one).
pub fn placeholders(template: &str) -> usize {
    pieces(template)
        .filter_map(|piece| match piece {
            Piece::Arg { index, .. } => Some(index + 1),
            Piece::Text(_) => None,
        })
        .max()
        .unwrap_or(0)
}

/// Shows the screens' own texts (`@tr`) in `lang`. Call after the first
/// component exists.
pub fn select(lang: Lang) -> Result<(), slint::SelectBundledTranslationError> {
    slint::select_bundled_translation(match lang {
        // Index 0 of the bundle: the texts as written.
        Lang::Vi => "",
        Lang::En => "en",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn placeholders_fill_like_tr() {
        assert_eq!(fill("Còn {} lần", &args(&["3"])), "Còn 3 lần");
        assert_eq!(fill("{1} / {0}", &args(&["a", "b"])), "b / a");
        assert_eq!(fill("{} và {}", &args(&["x", "y"])), "x và y");
        assert_eq!(fill("{{}} {}", &args(&["z"])), "{} z");
        // Nothing to fill with: the text stays readable.
        assert_eq!(fill("Mã {}", &[]), "Mã {}");
        assert_eq!(fill("{x} {", &args(&["1"])), "{x} {");
        assert_eq!(placeholders("{} và {}"), 2);
        assert_eq!(placeholders("{1} / {0}"), 2);
        assert_eq!(placeholders("{{}} không"), 0);
    }

    #[test]
    fn texts_render_in_either_language() {
        let text = Text::with("Cần nhập đủ {} chữ số.", ["12"]);
        assert_eq!(text.render(Lang::Vi), "Cần nhập đủ 12 chữ số.");
        assert_eq!(text.render(Lang::En), "Enter all 12 digits.");
        // Unknown to the catalogue: shown as written, never blank.
        assert_eq!(tr(Lang::En, "Chưa dịch"), "Chưa dịch");
        assert!(!has_translation(Lang::En, "Chưa dịch"));
        assert!(has_translation(Lang::Vi, "Chưa dịch"));
        assert_eq!(format!("{text:?}"), "Text(\"Cần nhập đủ {} chữ số.\")");
    }

    #[test]
    fn each_language_switches_to_the_other() {
        for lang in Lang::ALL {
            assert_ne!(lang.other(), lang);
            assert_eq!(lang.other().other(), lang);
        }
        assert_eq!(Lang::default(), Lang::Vi);
    }

    /// Every English entry takes the same arguments as its Vietnamese, and
    /// none is marked fuzzy or left empty (those would silently show
    /// Vietnamese to an English reader).
    #[test]
    fn the_english_catalogue_is_complete_and_consistent() {
        let file =
            rspolib::pofile(include_str!("../translations/en/LC_MESSAGES/kiosk-ui.po")).unwrap();
        assert!(file.entries.len() > 100, "{} entries", file.entries.len());
        let mut seen = std::collections::HashSet::new();
        for entry in &file.entries {
            assert!(seen.insert(&entry.msgid), "twice: {}", entry.msgid);
            assert!(!entry.fuzzy(), "fuzzy: {}", entry.msgid);
            let msgstr = entry.msgstr.as_deref().unwrap_or("");
            assert!(!msgstr.is_empty(), "untranslated: {}", entry.msgid);
            assert_eq!(
                placeholders(&entry.msgid),
                placeholders(msgstr),
                "arguments differ: {} → {msgstr}",
                entry.msgid
            );
        }
    }
}
