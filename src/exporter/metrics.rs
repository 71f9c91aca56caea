//! The in-memory metric model collectors fill and encoders read: families of
//! samples with a name, help text and type, exactly as the exposition formats
//! describe them. Nothing here does I/O.

use std::borrow::Cow;
use std::collections::HashMap;

/// The type of a metric family, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Untyped,
}

/// A label name. Almost always a `&'static str`; owned only where names come
/// from data (the textfile collector).
pub type LabelName = Cow<'static, str>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(LabelName, String)>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: Cow<'static, str>,
    pub help: Cow<'static, str>,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    /// Adds one sample. Label order does not matter: the encoder sorts.
    pub fn add(&mut self, labels: &[(&'static str, &str)], value: f64) -> &mut Self {
        self.samples.push(Sample {
            labels: labels
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), (*v).to_owned()))
                .collect(),
            value,
        });
        self
    }

    /// Adds one sample whose label names are only known at run time.
    pub fn add_owned(&mut self, labels: Vec<(LabelName, String)>, value: f64) -> &mut Self {
        self.samples.push(Sample { labels, value });
        self
    }
}

/// A set of metric families, looked up by name so a collector can add to
/// the same family from several places.
#[derive(Debug, Default)]
pub struct Metrics {
    families: Vec<Family>,
    index: HashMap<Cow<'static, str>, usize>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// The family `name`, created with `help` and `kind` when it is new.
    pub fn family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        kind: Kind,
    ) -> &mut Family {
        let name = name.into();
        let at = match self.index.get(&name) {
            Some(&at) => at,
            None => {
                self.families.push(Family {
                    name: name.clone(),
                    help: help.into(),
                    kind,
                    samples: Vec::new(),
                });
                self.index.insert(name, self.families.len() - 1);
                self.families.len() - 1
            }
        };
        &mut self.families[at]
    }

    pub fn counter(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut Family {
        self.family(name, help, Kind::Counter)
    }

    pub fn gauge(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut Family {
        self.family(name, help, Kind::Gauge)
    }

    pub fn untyped(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
    ) -> &mut Family {
        self.family(name, help, Kind::Untyped)
    }

    /// Moves every family of `other` into `self`, merging same-named families.
    pub fn merge(&mut self, other: Metrics) {
        for fam in other.families {
            let target = self.family(fam.name, fam.help, fam.kind);
            target.samples.extend(fam.samples);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Family> {
        self.index.get(name).map(|&at| &self.families[at])
    }

    /// The families sorted by name, each with labels sorted by name and
    /// samples sorted by label values: the order node_exporter serves.
    pub fn into_sorted(self) -> Vec<Family> {
        let mut families = self.families;
        families.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for fam in &mut families {
            for s in &mut fam.samples {
                s.labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            }
            fam.samples.sort_by(|a, b| {
                a.labels
                    .iter()
                    .map(|l| l.1.as_str())
                    .cmp(b.labels.iter().map(|l| l.1.as_str()))
            });
        }
        families
    }
}
