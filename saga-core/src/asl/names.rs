//! State names: unique, at most 80 characters, and stable for a definition.

use std::collections::HashSet;

use super::check::MAX_NAME_LEN;

/// Hands out unique state names in a fixed order, so the same definition
/// always gets the same names.
#[derive(Debug, Default)]
pub(super) struct StateNamer {
    taken: HashSet<String>,
}

impl StateNamer {
    /// `wanted`, cut to 80 characters; if that is taken, the first free
    /// `<wanted> #2`, `<wanted> #3`, ... (cut so the suffix fits).
    pub(super) fn name(&mut self, wanted: &str) -> String {
        let mut n = 1u32;
        loop {
            let suffix = if n == 1 {
                String::new()
            } else {
                format!(" #{n}")
            };
            let room = MAX_NAME_LEN.saturating_sub(suffix.chars().count());
            let base: String = wanted.chars().take(room).collect();
            let candidate = format!("{base}{suffix}");
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_get_distinct_names_within_80_characters() {
        let mut namer = StateNamer::default();
        let long = "x".repeat(100);
        let a = namer.name(&long);
        let b = namer.name(&format!("{long}y"));
        let c = namer.name("Compensated");
        let d = namer.name("Compensated");
        assert_eq!(a, "x".repeat(80));
        assert_eq!(b, format!("{} #2", "x".repeat(77)));
        assert_eq!((c.as_str(), d.as_str()), ("Compensated", "Compensated #2"));
        assert!(
            [a, b, c, d]
                .iter()
                .all(|n| n.chars().count() <= MAX_NAME_LEN)
        );
    }
}
