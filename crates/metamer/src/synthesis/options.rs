//! `key=value,key=value` option lists, as `--model`, `--optimizer-opt` and `--scheduler-opt`
//! take them; every error names what is accepted.

use std::collections::BTreeMap;

/// Parsed `key=value` pairs; each read removes its key, so the ones left are unknown.
#[derive(Debug)]
pub struct KeyValues {
    what: String,
    entries: BTreeMap<String, String>,
}

impl KeyValues {
    /// `what` names the thing configured in messages, e.g. `gaussian` or `sgd`.
    ///
    /// # Errors
    /// When an entry is not `key=value`.
    pub fn parse(what: &str, text: &str) -> Result<Self, String> {
        let mut entries = BTreeMap::new();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{what} option {pair:?} is not key=value"))?;
            entries.insert(key.trim().to_string(), value.trim().to_string());
        }
        Ok(Self {
            what: what.to_string(),
            entries,
        })
    }

    /// The text of `key`, if given.
    pub fn text(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    fn parsed<T: std::str::FromStr>(&mut self, key: &str, kind: &str) -> Result<Option<T>, String> {
        self.text(key)
            .map(|text| {
                text.parse::<T>()
                    .map_err(|_| format!("{} option {key} must be {kind}, got {text:?}", self.what))
            })
            .transpose()
    }

    /// The number `key`, if given.
    ///
    /// # Errors
    /// When it is not a number (the message names the option).
    pub fn float(&mut self, key: &str) -> Result<Option<f64>, String> {
        self.parsed(key, "a number")
    }

    /// The count `key`, if given.
    ///
    /// # Errors
    /// When it is not a non-negative integer (the message names the option).
    pub fn count(&mut self, key: &str) -> Result<Option<usize>, String> {
        self.parsed(key, "a non-negative integer")
    }

    /// The flag `key`, if given.
    ///
    /// # Errors
    /// When it is not `true` or `false` (the message names the option).
    pub fn flag(&mut self, key: &str) -> Result<Option<bool>, String> {
        self.parsed(key, "true or false")
    }

    /// A list written with `:` between items, e.g. `milestones=3:7` or `betas=0.9:0.999`.
    ///
    /// # Errors
    /// When an item does not parse as `T` (the message names the option).
    pub fn list<T: std::str::FromStr>(
        &mut self,
        key: &str,
        kind: &str,
    ) -> Result<Option<Vec<T>>, String> {
        let what = self.what.clone();
        self.text(key)
            .map(|text| {
                text.split(':')
                    .map(|item| {
                        item.trim().parse::<T>().map_err(|_| {
                            format!(
                                "{what} option {key} must be {kind} separated by ':', got {text:?}"
                            )
                        })
                    })
                    .collect()
            })
            .transpose()
    }

    /// Fails on any key not taken, listing the accepted ones.
    ///
    /// # Errors
    /// When a key was not taken.
    pub fn finish(self, accepted: &str) -> Result<(), String> {
        match self.entries.keys().next() {
            Some(key) => Err(format!(
                "unknown {} option {key:?}; expected: {accepted}",
                self.what
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_leftovers() {
        let mut kv = KeyValues::parse("sgd", "momentum=0.9, nesterov=true,milestones=3:7").unwrap();
        assert_eq!(kv.float("momentum").unwrap(), Some(0.9));
        assert_eq!(kv.flag("nesterov").unwrap(), Some(true));
        assert_eq!(
            kv.list::<usize>("milestones", "integers").unwrap(),
            Some(vec![3, 7])
        );
        assert_eq!(kv.float("absent").unwrap(), None);
        kv.finish("momentum").unwrap();

        let mut kv = KeyValues::parse("sgd", "momentum=fast,lr2=1").unwrap();
        assert_eq!(
            kv.float("momentum").unwrap_err(),
            "sgd option momentum must be a number, got \"fast\""
        );
        assert_eq!(
            kv.finish("momentum, dampening").unwrap_err(),
            "unknown sgd option \"lr2\"; expected: momentum, dampening"
        );
        assert!(
            KeyValues::parse("sgd", "momentum")
                .unwrap_err()
                .contains("is not key=value")
        );
    }
}
