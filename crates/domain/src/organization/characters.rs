//! Which characters an organization name may hold, decided one character at a time, so the
//! rule can be published exactly as a JSON Schema pattern (the HTTP layer builds it from
//! [`ranges`]).
//!
//! Names are kept in Unicode normalization form KC so that look-alikes (fullwidth `Ａ`,
//! circled `①`) meet the same slug. A character is allowed when its NFKC form is exactly one
//! character that is safe on its own: not a control, format (Cf: zero-width, bidi), private-use
//! or unassigned character, not `$ . / \`, not combining, and not one that composes with its
//! neighbours. Then normalizing a name maps it character by character: its length does not
//! change (so the 64-character limit and the slug stay bounded), and whether it has an ASCII
//! letter or digit can be told from its characters alone.

use std::ops::RangeInclusive;

use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization as _};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// How a character may appear in an organization name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameCharacter {
    /// Invisible or direction-changing (Unicode category Cf).
    Invisible,
    /// Anything else that is refused.
    Forbidden,
    /// Allowed.
    Allowed,
    /// Allowed, and normalizes to an ASCII letter or digit: what a slug is made of.
    Significant,
}

fn unsafe_alone(c: char) -> bool {
    use GeneralCategory::{Control, Format, PrivateUse, Surrogate, Unassigned};
    matches!(
        c.general_category(),
        Control | Format | PrivateUse | Surrogate | Unassigned
    ) || matches!(c, '$' | '.' | '/' | '\\')
        || canonical_combining_class(c) != 0
}

#[must_use]
pub fn classify(c: char) -> NameCharacter {
    if c.general_category() == GeneralCategory::Format {
        return NameCharacter::Invisible;
    }
    if unsafe_alone(c) {
        return NameCharacter::Forbidden;
    }
    let mut normalized = std::iter::once(c).nfkc();
    let (Some(n), None) = (normalized.next(), normalized.next()) else {
        return NameCharacter::Forbidden;
    };
    if (n != c && unsafe_alone(n)) || is_nfkc_quick(std::iter::once(n)) != IsNormalized::Yes {
        return NameCharacter::Forbidden;
    }
    if n.is_ascii_alphanumeric() {
        NameCharacter::Significant
    } else {
        NameCharacter::Allowed
    }
}

impl NameCharacter {
    #[must_use]
    pub const fn is_allowed(self) -> bool {
        matches!(self, Self::Allowed | Self::Significant)
    }

    #[must_use]
    pub const fn is_significant(self) -> bool {
        matches!(self, Self::Significant)
    }
}

/// The characters whose class passes `include` (for instance [`NameCharacter::is_allowed`]),
/// as sorted, disjoint ranges. Scans every code point: compute once.
#[must_use]
pub fn ranges(include: fn(NameCharacter) -> bool) -> Vec<RangeInclusive<char>> {
    let wanted = |c: char| include(classify(c));
    let mut ranges: Vec<RangeInclusive<char>> = Vec::new();
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        if !wanted(c) {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if u32::from(*last.end()) + 1 == u32::from(c) => {
                *last = *last.start()..=c;
            }
            _ => ranges.push(c..=c),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_letters_digits_spaces_and_scripts_are_allowed() {
        for c in ['a', 'Z', '7'] {
            assert_eq!(classify(c), NameCharacter::Significant, "{c:?}");
        }
        for c in [' ', '-', '_', '&', 'é', 'ß', 'Ж', '日', '가', '☕', '😀'] {
            assert_eq!(classify(c), NameCharacter::Allowed, "{c:?}");
        }
    }

    #[test]
    fn look_alikes_that_normalize_to_one_ascii_letter_count_as_one() {
        for c in ['Ａ', 'ｚ', '①', '²', '𝐀'] {
            assert_eq!(classify(c), NameCharacter::Significant, "{c:?}");
        }
    }

    #[test]
    fn controls_invisibles_separators_marks_and_expansions_are_refused() {
        for c in ['\u{200B}', '\u{202E}', '\u{FEFF}', '\u{00AD}', '\u{2066}'] {
            assert_eq!(classify(c), NameCharacter::Invisible, "{c:?}");
        }
        for c in [
            '\t', '\u{7F}', '$', '.', '/', '\\', '\u{0301}', '＄', '．', '\u{E000}', '\u{0378}',
            'ﬁ', '㍱', '\u{1161}', '\u{314F}',
        ] {
            assert_eq!(classify(c), NameCharacter::Forbidden, "{c:?}");
        }
    }

    #[test]
    fn normalizing_an_allowed_name_keeps_its_length() {
        let name = "Ａｃｍｅ ① Café 가나 ²";
        assert!(name
            .chars()
            .all(|c| classify(c) != NameCharacter::Forbidden));
        let normalized: String = name.nfkc().collect();
        assert_eq!(normalized.chars().count(), name.chars().count());
    }
}
