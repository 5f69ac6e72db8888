//! A study plan: `[defaults]`, a `[grid]` of lists whose every combination is a job, and extra
//! `[[job]]` tables, each key one `metamer synth` option. The whole plan is checked on loading.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{StudyError, one_line};
use crate::synthesis::{Settings, backend_in_use, compiled_in, load_target, not_compiled_in};

/// Every job of a plan, checked.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The plan file, absolute.
    pub path: PathBuf,
    /// In the plan's order: the grid's combinations (last key fastest), then the `[[job]]`s.
    pub jobs: Vec<Job>,
    /// The options whose values differ between jobs, in the plan's order.
    pub varying: Vec<String>,
}

/// One synthesis of a study.
#[derive(Clone, Debug)]
pub struct Job {
    /// Stable across machines and plan orders: see [`job_id`].
    pub id: String,
    /// With file paths made absolute against the plan's folder.
    pub settings: Settings,
    /// Every option the plan sets for this job, as written there.
    pub written: BTreeMap<String, String>,
    /// For every option the plan sets for any job: this job's value as written, or its
    /// default. Filled once on loading, since summaries and displays ask for it often.
    shown: BTreeMap<String, String>,
}

impl Job {
    /// The value of `key` as the plan writes it, or its default as `metamer synth` spells it.
    pub fn shown(&self, key: &str) -> String {
        match self.shown.get(key) {
            Some(value) => value.clone(),
            None => self.default_shown(&[key]).remove(key).unwrap_or_default(),
        }
    }

    /// The values of `keys` this job does not set, as `metamer synth` spells their defaults.
    fn default_shown(&self, keys: &[&str]) -> BTreeMap<String, String> {
        let settings = serde_json::to_value(&self.settings).expect("settings serialize");
        keys.iter()
            .filter(|key| !self.written.contains_key(**key))
            .map(|&key| {
                let text = match &settings[key] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (key.to_string(), text)
            })
            .collect()
    }

    /// `key=value` for each varying option: how messages and the progress display name a job.
    pub fn label(&self, varying: &[String]) -> String {
        varying
            .iter()
            .map(|key| format!("{key}={}", self.shown(key)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Options a plan may not set: the study decides them for every job.
const RESERVED: &[(&str, &str)] = &[
    ("out", "each job's results go to DIR/jobs/<id>"),
    (
        "resume",
        "interrupted jobs continue from their checkpoints by themselves",
    ),
    ("quiet", "use `metamer study run --quiet`"),
];

/// An option's key, its value and where in the plan it was set.
type Entry = (String, toml::Value, String);

impl Plan {
    /// Reads and checks the plan at `path`: every job's options, models, optimizer options,
    /// images (loaded once each) and initial images.
    ///
    /// # Errors
    /// [`StudyError::Plan`], one line naming the job and the option at fault.
    pub fn load(path: &Path) -> Result<Self, StudyError> {
        let fail = |message: String| StudyError::Plan {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(format!("cannot read the plan: {e}")))?;
        let mut document: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| fail(one_line(&e.to_string())))?;
        let absolute = std::path::absolute(path).map_err(|e| fail(e.to_string()))?;
        let folder = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();

        let defaults = take_table(&mut document, "defaults").map_err(fail)?;
        let grid = take_table(&mut document, "grid").map_err(fail)?;
        let extra = match document.remove("job") {
            None => Vec::new(),
            Some(toml::Value::Array(tables)) => tables,
            Some(_) => return Err(fail("`job` must be written as [[job]] tables".to_string())),
        };
        if let Some(section) = document.keys().next() {
            return Err(fail(format!(
                "unknown section `{section}`; a plan has [defaults], [grid] and [[job]]"
            )));
        }

        let base: Vec<Entry> = defaults
            .into_iter()
            .map(|(k, v)| (k, v, "[defaults]".to_string()))
            .collect();
        let mut rows: Vec<Vec<Entry>> = Vec::new();
        if !grid.is_empty() {
            let mut axes = Vec::new();
            for (key, value) in grid {
                match value {
                    toml::Value::Array(values) if values.is_empty() => {
                        return Err(fail(format!("[grid] {key}: the list is empty")));
                    }
                    toml::Value::Array(values) => axes.push((key, values)),
                    _ => {
                        return Err(fail(format!(
                            "[grid] {key}: expected a list of values, e.g. {key} = [...]"
                        )));
                    }
                }
            }
            for combination in combinations(&axes) {
                let mut row = base.clone();
                for (key, value) in combination {
                    set(&mut row, (key, value, "[grid]".to_string()));
                }
                rows.push(row);
            }
        }
        for (index, table) in extra.into_iter().enumerate() {
            let toml::Value::Table(table) = table else {
                return Err(fail(format!("[[job]] {}: not a table", index + 1)));
            };
            let mut row = base.clone();
            for (key, value) in table {
                set(&mut row, (key, value, format!("[[job]] {}", index + 1)));
            }
            rows.push(row);
        }
        if rows.is_empty() {
            // A plan of defaults alone is one synthesis.
            rows.push(base);
        }

        let mut jobs = Vec::with_capacity(rows.len());
        let mut images: HashMap<TargetKey, Result<(), String>> = HashMap::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, row) in rows.iter().enumerate() {
            let number = index + 1;
            let job = parse_job(row, &folder, &mut images)
                .map_err(|message| fail(format!("job {number}: {message}")))?;
            if let Some(first) = seen.insert(job.id.clone(), number) {
                return Err(fail(format!(
                    "job {number} has the same settings as job {first}"
                )));
            }
            jobs.push(job);
        }
        let varying = varying_keys(&rows, &mut jobs);
        Ok(Self {
            path: absolute,
            jobs,
            varying,
        })
    }
}

fn take_table(document: &mut toml::Table, name: &str) -> Result<toml::Table, String> {
    match document.remove(name) {
        None => Ok(toml::Table::new()),
        Some(toml::Value::Table(table)) => Ok(table),
        Some(_) => Err(format!("`{name}` must be a table, written [{name}]")),
    }
}

/// Sets an entry, replacing an earlier one of the same key.
fn set(row: &mut Vec<Entry>, entry: Entry) {
    match row.iter_mut().find(|(key, _, _)| *key == entry.0) {
        Some(existing) => *existing = entry,
        None => row.push(entry),
    }
}

/// Every combination of the axes' values, the last axis varying fastest.
fn combinations(axes: &[(String, Vec<toml::Value>)]) -> Vec<Vec<(String, toml::Value)>> {
    let mut all = vec![Vec::new()];
    for (key, values) in axes {
        all = all
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |value| {
                    let mut next = prefix.clone();
                    next.push((key.clone(), value.clone()));
                    next
                })
            })
            .collect();
    }
    all
}

/// A value as the plan writes it: strings without quotes, numbers in their shortest form
/// (`1e30`, `0.01`).
fn written(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => text.clone(),
        toml::Value::Float(number) => format!("{number:?}"),
        other => other.to_string(),
    }
}

/// What decides a job's target image: the image, colour and crop.
type TargetKey = (String, bool, Option<usize>);

fn parse_job(
    row: &[Entry],
    folder: &Path,
    images: &mut HashMap<TargetKey, Result<(), String>>,
) -> Result<Job, String> {
    let mut table = toml::Table::new();
    for (key, value, origin) in row {
        if let Some((_, why)) = RESERVED.iter().find(|(name, _)| name == key) {
            return Err(format!("{key} (in {origin}): not a plan option: {why}"));
        }
        table.insert(key.clone(), value.clone());
    }
    let origin_of = |key: &str| {
        row.iter()
            .find(|(k, _, _)| k == key)
            .map_or(String::new(), |(_, _, origin)| format!(" (in {origin})"))
    };
    let settings: Settings =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
            let key = error.path().to_string();
            let message = one_line(&error.inner().to_string());
            if key == "." {
                // Unknown options are reported at the top level.
                let unknown = message
                    .split('`')
                    .nth(1)
                    .map(&origin_of)
                    .unwrap_or_default();
                format!("{message}{unknown}")
            } else {
                let message = message
                    .strip_suffix(&format!(" in `{key}`"))
                    .unwrap_or(&message);
                format!("{key}{}: {message}", origin_of(&key))
            }
        })?;
    let id = job_id(&settings);
    settings
        .check()
        .map_err(|e| format!("{}{}: {}", e.option, origin_of(e.option), e.message))?;
    if !compiled_in(backend_in_use(&settings)) {
        return Err(format!(
            "backend{}: {}",
            origin_of("backend"),
            not_compiled_in(backend_in_use(&settings))
        ));
    }
    let resolved = resolve_paths(settings, folder);
    if let Some(init) = &resolved.init
        && !init.is_file()
    {
        return Err(format!(
            "init{}: {} does not exist",
            origin_of("init"),
            init.display()
        ));
    }
    if let Some(missing) = resolved.model.files().into_iter().find(|f| !f.is_file()) {
        return Err(format!(
            "model{}: {} does not exist",
            origin_of("model"),
            missing.display()
        ));
    }
    let image_key = (
        resolved.image.clone().unwrap_or_default(),
        resolved.color,
        resolved.crop,
    );
    let loaded = images.entry(image_key).or_insert_with(|| {
        load_target(&resolved)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    if let Err(message) = loaded {
        return Err(format!("image{}: {message}", origin_of("image")));
    }
    let written: BTreeMap<String, String> = row
        .iter()
        .map(|(key, value, _)| (key.clone(), written(value)))
        .collect();
    Ok(Job {
        id,
        settings: resolved,
        shown: written.clone(),
        written,
    })
}

/// Makes `image`, `init` and model file paths (a network's `weights`) absolute against the
/// plan's folder; built-in and generated image names stay names unless a file of that name is
/// there.
fn resolve_paths(settings: Settings, folder: &Path) -> Settings {
    let image = settings.image.map(|name| {
        let candidate = folder.join(&name);
        let named = matches!(name.as_str(), "scene" | "texture")
            || crate::io::BUILTIN_IMAGES.contains(&name.as_str());
        if candidate.exists() || !named {
            candidate.display().to_string()
        } else {
            name
        }
    });
    let init = settings.init.map(|path| folder.join(path));
    Settings {
        image,
        init,
        model: settings.model.with_files_in(folder),
        ..settings
    }
}

/// A job's id: `<image>_<model>_seed<N>_<hash>`, the hash over every setting that decides the
/// result (so not `checkpoint-every`), with image and initial-image paths as the plan writes
/// them. The same settings give the same id on any machine and in any plan order.
pub fn job_id(settings: &Settings) -> String {
    let mut canonical = serde_json::to_value(settings).expect("settings serialize");
    if let Some(map) = canonical.as_object_mut() {
        map.remove("checkpoint-every");
    }
    let hash = fnv1a(canonical.to_string().as_bytes());
    let image = settings
        .image
        .as_deref()
        .map(|name| {
            Path::new(name)
                .file_stem()
                .map_or(name.to_string(), |stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "scene".to_string());
    let model = settings.model.describe();
    let model = model.split(':').next().unwrap_or_default();
    format!(
        "{}_{}_seed{}_{:012x}",
        slug(&image),
        slug(model),
        settings.seed,
        hash >> 16
    )
}

/// Letters, digits, `-` and `.`; anything else becomes `-`.
fn slug(text: &str) -> String {
    let slug: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    slug.trim_matches(['-', '.']).to_string()
}

/// 64-bit FNV-1a: small, fixed and the same on every platform.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Options whose shown value differs between jobs, in the order the plan first sets them;
/// fills each job's shown values of every option the plan sets.
fn varying_keys(rows: &[Vec<Entry>], jobs: &mut [Job]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for row in rows {
        for (key, _, _) in row {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    for job in jobs.iter_mut() {
        let defaults = job.default_shown(&names);
        job.shown.extend(defaults);
    }
    keys.retain(|key| {
        let first = jobs[0].shown(key);
        jobs.iter().any(|job| job.shown(key) != first)
    });
    keys
}
