//! Telex: typing Vietnamese with the 26 Latin letters, as every Vietnamese
//! keyboard user already knows it.
//!
//! | keys | gives | | keys | gives |
//! |---|---|---|---|---|
//! | `aa` `ee` `oo` | â ê ô | | `s` `f` `r` `x` `j` | sắc, huyền, hỏi, ngã, nặng |
//! | `aw` `ow` `uw` `uow` | ă ơ ư ươ | | `z` | removes the tone |
//! | `dd` | đ | | `w` alone | ư |
//!
//! Modifiers and tones may come anywhere after their vowel in the word
//! (`nguyeenx` and `nguyeexn` both give *nguyễn*), and the tone is placed on
//! the right vowel of the cluster whatever the order of typing. Typing the
//! same modifier or tone twice undoes it and keeps the letter (`ss` → `s`,
//! `aaa` → `aa`), which is how a name with a real `s` or `w` is typed.
//!
//! The composer is stateless: it reads the word at the end of the text,
//! applies one key and writes the word back. Backspace is a plain deletion,
//! so nothing can get out of step with what the screen shows.

/// Where the tone goes in an open `oa`, `oe`, `uy` syllable: *hoà, thuỷ*
/// (the modern rule) or *hòa, thủy* (the classic one). Both spellings are
/// on identity cards; the citizen types their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToneStyle {
    #[default]
    Classic,
    Modern,
}

impl ToneStyle {
    pub fn other(self) -> ToneStyle {
        match self {
            ToneStyle::Classic => ToneStyle::Modern,
            ToneStyle::Modern => ToneStyle::Classic,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    None,
    Grave,
    Hook,
    Tilde,
    Acute,
    Dot,
}

impl Tone {
    const ORDER: [Tone; 6] = [
        Tone::None,
        Tone::Grave,
        Tone::Hook,
        Tone::Tilde,
        Tone::Acute,
        Tone::Dot,
    ];

    fn of_key(key: char) -> Option<Tone> {
        match key.to_ascii_lowercase() {
            'f' => Some(Tone::Grave),
            'r' => Some(Tone::Hook),
            'x' => Some(Tone::Tilde),
            's' => Some(Tone::Acute),
            'j' => Some(Tone::Dot),
            _ => None,
        }
    }

    fn index(self) -> usize {
        Tone::ORDER.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// Each vowel with its six tones, in [`Tone::ORDER`].
const VOWELS: [&str; 12] = [
    "aàảãáạ",
    "ăằẳẵắặ",
    "âầẩẫấậ",
    "eèẻẽéẹ",
    "êềểễếệ",
    "iìỉĩíị",
    "oòỏõóọ",
    "ôồổỗốộ",
    "ơờởỡớợ",
    "uùủũúụ",
    "ưừửữứự",
    "yỳỷỹýỵ",
];
const VOWELS_UPPER: [&str; 12] = [
    "AÀẢÃÁẠ",
    "ĂẰẲẴẮẶ",
    "ÂẦẨẪẤẬ",
    "EÈẺẼÉẸ",
    "ÊỀỂỄẾỆ",
    "IÌỈĨÍỊ",
    "OÒỎÕÓỌ",
    "ÔỒỔỖỐỘ",
    "ƠỜỞỠỚỢ",
    "UÙỦŨÚỤ",
    "ƯỪỬỮỨỰ",
    "YỲỶỸÝỴ",
];

/// One letter of a word, without its tone: the base letter as typed
/// (lower case), its shape, and its case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Letter {
    /// `a`, `ă`, `â`, …, `đ`, or any ASCII letter.
    base: char,
    upper: bool,
}

impl Letter {
    fn vowel_index(self) -> Option<usize> {
        VOWELS.iter().position(|v| v.starts_with(self.base))
    }

    fn is_vowel(self) -> bool {
        self.vowel_index().is_some()
    }

    /// A vowel that carries a modifier: â ă ê ô ơ ư.
    fn is_modified(self) -> bool {
        matches!(self.base, 'ă' | 'â' | 'ê' | 'ô' | 'ơ' | 'ư')
    }

    fn render(self, tone: Tone) -> char {
        match self.vowel_index() {
            Some(i) => {
                let table = if self.upper {
                    VOWELS_UPPER[i]
                } else {
                    VOWELS[i]
                };
                table.chars().nth(tone.index()).unwrap_or(self.base)
            }
            None if self.upper => self.base.to_uppercase().next().unwrap_or(self.base),
            None => self.base,
        }
    }

    fn with_base(self, base: char) -> Letter {
        Letter { base, ..self }
    }
}

/// Reads one character as a letter and its tone, if it is a letter.
fn parse(c: char) -> Option<(Letter, Tone)> {
    for (tables, upper) in [(&VOWELS, false), (&VOWELS_UPPER, true)] {
        for (i, table) in tables.iter().enumerate() {
            if let Some(t) = table.chars().position(|x| x == c) {
                let base = VOWELS[i].chars().next().unwrap_or('a');
                return Some((Letter { base, upper }, Tone::ORDER[t]));
            }
        }
    }
    match c {
        'đ' | 'Đ' => Some((
            Letter {
                base: 'đ',
                upper: c == 'Đ',
            },
            Tone::None,
        )),
        c if c.is_ascii_alphabetic() => Some((
            Letter {
                base: c.to_ascii_lowercase(),
                upper: c.is_ascii_uppercase(),
            },
            Tone::None,
        )),
        _ => None,
    }
}

/// A word being composed: letters, and one tone for the syllable.
#[derive(Debug, Clone)]
struct Word {
    letters: Vec<Letter>,
    tone: Tone,
}

impl Word {
    fn read(text: &str) -> (usize, Word) {
        let mut start = text.len();
        let mut letters = Vec::new();
        let mut tone = Tone::None;
        for (i, c) in text.char_indices().rev() {
            match parse(c) {
                Some((letter, t)) => {
                    start = i;
                    letters.push(letter);
                    if t != Tone::None && tone == Tone::None {
                        tone = t;
                    }
                }
                None => break,
            }
        }
        letters.reverse();
        (start, Word { letters, tone })
    }

    /// The vowels that carry the tone: the first run of vowels, where the
    /// `u` of `qu` and the `i` of `gi` before another vowel are consonants.
    fn nucleus(&self) -> std::ops::Range<usize> {
        let l = &self.letters;
        let mut start = match l.iter().position(|x| x.is_vowel()) {
            Some(i) => i,
            None => return 0..0,
        };
        let end = l[start..]
            .iter()
            .position(|x| !x.is_vowel())
            .map_or(l.len(), |n| start + n);
        let glide = start > 0
            && end - start > 1
            && matches!((l[start - 1].base, l[start].base), ('q', 'u') | ('g', 'i'));
        if glide {
            start += 1;
        }
        start..end
    }

    fn tone_position(&self, style: ToneStyle) -> Option<usize> {
        let range = self.nucleus();
        if range.is_empty() {
            return None;
        }
        let vowels = &self.letters[range.clone()];
        if let Some(i) = vowels.iter().rposition(|v| v.is_modified()) {
            return Some(range.start + i);
        }
        let closed = range.end < self.letters.len();
        let at = match vowels.len() {
            1 => 0,
            2 if closed => 1,
            2 => {
                let pair = (vowels[0].base, vowels[1].base);
                let modern_pair = matches!(pair, ('o', 'a') | ('o', 'e') | ('u', 'y'));
                usize::from(style == ToneStyle::Modern && modern_pair)
            }
            _ => 1,
        };
        Some(range.start + at)
    }

    fn render(&self, style: ToneStyle) -> String {
        let at = self.tone_position(style);
        self.letters
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let tone = if Some(i) == at { self.tone } else { Tone::None };
                l.render(tone)
            })
            .collect()
    }

    fn has_vowel(&self) -> bool {
        self.letters.iter().any(|l| l.is_vowel())
    }

    fn last_with(&self, bases: &[char]) -> Option<usize> {
        self.letters.iter().rposition(|l| bases.contains(&l.base))
    }

    fn push(&mut self, key: char) {
        if let Some((letter, _)) = parse(key) {
            self.letters.push(letter);
        }
    }

    /// Applies one key; answers false when the key is a plain letter here.
    fn apply(&mut self, key: char) -> bool {
        let lower = key.to_ascii_lowercase();
        if let Some(tone) = Tone::of_key(key) {
            if !self.has_vowel() {
                return false;
            }
            if self.tone == tone {
                self.tone = Tone::None;
                return false;
            }
            self.tone = tone;
            return true;
        }
        match lower {
            'z' if self.tone != Tone::None => {
                self.tone = Tone::None;
                true
            }
            'a' | 'e' | 'o' => {
                let (hat, others): (char, &[char]) = match lower {
                    'a' => ('â', &['a', 'ă', 'â']),
                    'e' => ('ê', &['e', 'ê']),
                    _ => ('ô', &['o', 'ơ', 'ô']),
                };
                match self.last_with(others) {
                    Some(i) if self.letters[i].base == hat => {
                        self.letters[i] = self.letters[i].with_base(lower);
                        false
                    }
                    Some(i) => {
                        self.letters[i] = self.letters[i].with_base(hat);
                        true
                    }
                    None => false,
                }
            }
            'w' => self.horn(key),
            'd' => match self.letters.first().copied() {
                Some(first) if first.base == 'd' => {
                    self.letters[0] = first.with_base('đ');
                    true
                }
                Some(first) if first.base == 'đ' => {
                    self.letters[0] = first.with_base('d');
                    false
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn horn(&mut self, key: char) -> bool {
        let l = &mut self.letters;
        // ươ: the pair takes its horns together.
        if let Some(i) = (1..l.len())
            .rev()
            .find(|&i| matches!(l[i - 1].base, 'u' | 'ư') && matches!(l[i].base, 'o' | 'ơ'))
        {
            if l[i - 1].base == 'ư' && l[i].base == 'ơ' {
                l[i - 1] = l[i - 1].with_base('u');
                l[i] = l[i].with_base('o');
                return false;
            }
            l[i - 1] = l[i - 1].with_base('ư');
            l[i] = l[i].with_base('ơ');
            return true;
        }
        if let Some(i) = l
            .iter()
            .rposition(|x| matches!(x.base, 'a' | 'o' | 'u' | 'ă' | 'ơ' | 'ư' | 'â' | 'ô'))
        {
            let (plain, horned) = match l[i].base {
                'a' | 'â' => ('a', 'ă'),
                'o' | 'ô' => ('o', 'ơ'),
                'u' => ('u', 'ư'),
                'ă' => ('a', 'ă'),
                'ơ' => ('o', 'ơ'),
                _ => ('u', 'ư'),
            };
            if l[i].base == horned {
                l[i] = l[i].with_base(plain);
                return false;
            }
            l[i] = l[i].with_base(horned);
            return true;
        }
        if !self.has_vowel() {
            // `w` on its own is ư.
            self.letters.push(Letter {
                base: 'ư',
                upper: key.is_ascii_uppercase(),
            });
            return true;
        }
        false
    }
}

/// Types `key` at the end of `text` with Telex composition.
pub fn type_key(text: &mut String, key: char, style: ToneStyle) {
    let (start, mut word) = Word::read(text);
    if !key.is_ascii_alphabetic() {
        text.push(key);
        return;
    }
    if !word.apply(key) {
        word.push(key);
    }
    text.truncate(start);
    text.push_str(&word.render(style));
}

/// `text` with its last word's tone placed by `style`, when that spells
/// the word differently (*Thủy* → *Thuỷ*); `None` when the word reads the
/// same either way.
pub fn respell_last_word(text: &str, style: ToneStyle) -> Option<String> {
    let (start, word) = Word::read(text);
    let respelled = word.render(style);
    (respelled != text[start..]).then(|| format!("{}{respelled}", &text[..start]))
}

/// Types every character of `keys` in turn, as a sequence of key presses.
pub fn type_keys(text: &mut String, keys: &str, style: ToneStyle) {
    for key in keys.chars() {
        type_key(text, key, style);
    }
}

/// Composes `keys` from empty; for tests and examples.
pub fn compose(keys: &str, style: ToneStyle) -> String {
    let mut text = String::new();
    type_keys(&mut text, keys, style);
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization as _;
    use unicode_normalization::is_nfc;

    fn c(keys: &str) -> String {
        compose(keys, ToneStyle::Classic)
    }
    fn m(keys: &str) -> String {
        compose(keys, ToneStyle::Modern)
    }

    #[test]
    fn the_last_word_can_take_the_other_tone_placement() {
        let thuy = c("Traafn Thij Thury");
        assert_eq!(
            respell_last_word(&thuy, ToneStyle::Modern).as_deref(),
            Some("Trần Thị Thuỷ")
        );
        assert_eq!(respell_last_word(&thuy, ToneStyle::Classic), None);
        assert_eq!(
            respell_last_word("Nguyễn Văn Hoà", ToneStyle::Classic).as_deref(),
            Some("Nguyễn Văn Hòa")
        );
        // One placement only: nothing to offer.
        assert_eq!(respell_last_word("Nguyễn", ToneStyle::Modern), None);
        assert_eq!(respell_last_word("Hoàng", ToneStyle::Modern), None);
        assert_eq!(respell_last_word("Trần ", ToneStyle::Modern), None);
        assert_eq!(ToneStyle::Classic.other().other(), ToneStyle::Classic);
    }

    #[test]
    fn names_from_the_issue() {
        assert_eq!(c("Nguyeenx"), "Nguyễn");
        assert_eq!(c("Nguyeexn"), "Nguyễn");
        assert_eq!(c("Traafn Thij Thury"), "Trần Thị Thủy");
        assert_eq!(m("Traafn Thij Thuyr"), "Trần Thị Thuỷ");
        assert_eq!(
            m("Traafn Thij Thury"),
            "Trần Thị Thuỷ",
            "the tone key's place does not matter"
        );
        assert_eq!(c("DDawngj Quoocs Uwng"), "Đặng Quốc Ưng");
        assert_eq!(c("Ddawngj Quoocs Wng"), "Đặng Quốc Ưng");
        assert_eq!(c("ddangwj quocos"), "đặng quốc");
    }

    #[test]
    fn modifiers() {
        for (keys, want) in [
            ("aa", "â"),
            ("aw", "ă"),
            ("ee", "ê"),
            ("oo", "ô"),
            ("ow", "ơ"),
            ("uw", "ư"),
            ("w", "ư"),
            ("W", "Ư"),
            ("dd", "đ"),
            ("DD", "Đ"),
            ("Dd", "Đ"),
            ("huongw", "hương"),
            ("nguoiwf", "người"),
            ("thuowngf", "thường"),
            ("tuaans", "tuấn"),
            ("khuaays", "khuấy"),
        ] {
            assert_eq!(c(keys), want, "{keys}");
        }
    }

    #[test]
    fn doubling_undoes_and_keeps_the_letter() {
        assert_eq!(c("ss"), "ss", "no vowel: a plain s");
        assert_eq!(c("ass"), "as");
        assert_eq!(c("aaa"), "aa");
        assert_eq!(c("aww"), "aw");
        assert_eq!(c("ddd"), "dd");
        assert_eq!(c("uww"), "uw");
        assert_eq!(c("Sown"), "Sơn", "a tone key with no vowel yet is a letter");
        assert_eq!(
            c("Wiliam"),
            "Ưiliam",
            "foreign names are typed with plain letters"
        );
    }

    #[test]
    fn z_removes_the_tone() {
        assert_eq!(c("asz"), "a");
        assert_eq!(c("Nguyeenxz"), "Nguyên");
        assert_eq!(c("z"), "z");
        assert_eq!(c("as f"), "á f", "tones stay in their word");
        assert_eq!(c("asf"), "à", "a new tone replaces the old");
    }

    #[test]
    fn tone_placement() {
        for (keys, classic, modern) in [
            ("hoaf", "hòa", "hoà"),
            ("hoanf", "hoàn", "hoàn"),
            ("khoer", "khỏe", "khoẻ"),
            ("thuyr", "thủy", "thuỷ"),
            ("thuyeenf", "thuyền", "thuyền"),
            ("muaf", "mùa", "mùa"),
            ("mias", "mía", "mía"),
            ("quas", "quá", "quá"),
            ("quyeets", "quyết", "quyết"),
            ("giaf", "già", "già"),
            ("gifn", "gìn", "gìn"),
            ("giuwax", "giữa", "giữa"),
            ("xoays", "xoáy", "xoáy"),
            ("khuyur", "khuỷu", "khuỷu"),
            ("cuwus", "cứu", "cứu"),
            ("lauj", "lạu", "lạu"),
            ("hoafn", "hoàn", "hoàn"),
        ] {
            assert_eq!(c(keys), classic, "{keys} classic");
            assert_eq!(m(keys), modern, "{keys} modern");
        }
    }

    #[test]
    fn the_tone_moves_as_the_word_grows() {
        let mut text = String::new();
        type_keys(&mut text, "hoaf", ToneStyle::Classic);
        assert_eq!(text, "hòa");
        type_key(&mut text, 'n', ToneStyle::Classic);
        assert_eq!(text, "hoàn");
    }

    #[test]
    fn only_the_last_word_is_touched() {
        let mut text = String::from("Lê Văn ");
        type_keys(&mut text, "Tams", ToneStyle::Classic);
        assert_eq!(text, "Lê Văn Tám");
        let mut text = String::from("0912-");
        type_keys(&mut text, "as", ToneStyle::Classic);
        assert_eq!(text, "0912-á");
    }

    #[test]
    fn backspace_is_a_plain_deletion_and_typing_resumes() {
        let mut text = c("Nguyeenx");
        text.pop();
        assert_eq!(text, "Nguyễ");
        type_key(&mut text, 'n', ToneStyle::Classic);
        assert_eq!(text, "Nguyễn");
    }

    #[test]
    fn upper_case_is_kept() {
        assert_eq!(c("NGUYEENX"), "NGUYỄN");
        assert_eq!(c("TRAAFN"), "TRẦN");
        assert_eq!(c("DDAWNGJ"), "ĐẶNG");
    }

    proptest::proptest! {
        /// Whatever is typed, the result is NFC text of letters and what
        /// was typed besides, and composing never panics.
        #[test]
        fn any_key_sequence_gives_nfc(keys in "[a-zA-Z ]{0,24}") {
            let out = c(&keys);
            proptest::prop_assert!(is_nfc(&out));
            proptest::prop_assert_eq!(out.nfc().collect::<String>(), out.clone());
            proptest::prop_assert_eq!(
                out.chars().filter(|c| *c == ' ').count(),
                keys.chars().filter(|c| *c == ' ').count()
            );
        }

        /// Telex never loses a word: each word has at least one letter per
        /// key that is not a modifier or tone.
        #[test]
        fn plain_consonants_pass_through(keys in "[bcghklmnpqtv]{1,12}") {
            proptest::prop_assert_eq!(c(&keys), keys);
        }
    }
}
