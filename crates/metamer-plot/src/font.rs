//! The font for figure text: plotters rasterises glyphs itself, so it needs font bytes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::{PlotError, Result};

/// Environment variable naming a `.ttf`/`.otf` file to use instead of a system font.
pub const FONT_VARIABLE: &str = "METAMER_FONT";

/// The family name figures ask plotters for.
pub(crate) const FAMILY: &str = "sans-serif";

/// Regular sans-serif fonts commonly installed on Linux, macOS and Windows, best first.
const CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Folders searched for any regular sans-serif font when no candidate exists.
const FONT_FOLDERS: &[&str] = &["/usr/share/fonts", "/usr/local/share/fonts"];

/// Registers the figure font once per process and names its file; every later call returns
/// the first outcome.
///
/// # Errors
/// [`PlotError::NoFont`](crate::PlotError::NoFont) when no TrueType or OpenType font is found; the
/// message says how to provide one.
pub fn font_path() -> Result<PathBuf> {
    static REGISTERED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    REGISTERED
        .get_or_init(register)
        .clone()
        .map_err(PlotError::NoFont)
}

fn register() -> Result<PathBuf, String> {
    let path = find()?;
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot read the font {}: {e}", path.display()))?;
    // plotters keeps fonts for the life of the process; one font is leaked once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| {
        format!(
            "{} is not a TrueType/OpenType font; set {FONT_VARIABLE} to one",
            path.display()
        )
    })?;
    Ok(path)
}

fn find() -> Result<PathBuf, String> {
    if let Some(value) = std::env::var_os(FONT_VARIABLE) {
        let path = PathBuf::from(value);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{FONT_VARIABLE}={} is not a readable font file",
                path.display()
            ))
        };
    }
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| FONT_FOLDERS.iter().find_map(|d| search(Path::new(d), 3)))
        .ok_or_else(|| {
            format!(
                "no font found for figure text; set {FONT_VARIABLE} to a .ttf or .otf file, or \
                 install one (Debian/Ubuntu: apt-get install fonts-dejavu-core)"
            )
        })
}

/// A regular (not bold or italic) sans-serif TrueType font under `folder`.
fn search(folder: &Path, depth: usize) -> Option<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let regular = |p: &PathBuf| {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        (name.ends_with(".ttf") || name.ends_with(".otf"))
            && name.contains("sans")
            && !["bold", "italic", "oblique", "mono", "light", "condensed"]
                .iter()
                .any(|s| name.contains(s))
    };
    entries
        .iter()
        .find(|p| p.is_file() && regular(p))
        .cloned()
        .or_else(|| {
            (depth > 0)
                .then(|| {
                    entries
                        .iter()
                        .filter(|p| p.is_dir())
                        .find_map(|d| search(d, depth - 1))
                })
                .flatten()
        })
}
