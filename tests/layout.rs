//! The crate's modules depend downward only: each uses only the modules
//! listed before it in `src/lib.rs`'s `# Layout`, so there is no cycle and
//! the map a newcomer reads is the territory. Read from the source text:
//! every `crate::module` a module's files name.

use std::collections::BTreeSet;
use std::path::Path;

/// The modules of `src/lib.rs`'s `# Layout`, in its order.
fn layout() -> Vec<String> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let doc = lib
        .split("//! # Layout")
        .nth(1)
        .expect("a # Layout section");
    doc.lines()
        .skip(1)
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| l.strip_prefix("//! - [`"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate modules `module`'s files name (`crate::x`).
fn uses(module: &str, known: &[String]) -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    if src.join(module).is_dir() {
        sources(&src.join(module), &mut files);
    } else {
        files.push(src.join(format!("{module}.rs")));
    }
    let mut used = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("crate::") {
            let name: String = text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name != module && known.contains(&name) {
                used.insert(name);
            }
        }
    }
    used
}

#[test]
fn every_module_is_in_the_layout_and_uses_only_those_below_it() {
    let layout = layout();
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect();
    assert_eq!(
        declared,
        layout.iter().cloned().collect::<BTreeSet<_>>(),
        "lib.rs declares exactly the modules its # Layout lists"
    );
    for (i, module) in layout.iter().enumerate() {
        let below = &layout[..i];
        for used in uses(module, &layout) {
            assert!(
                below.contains(&used),
                "{module} uses {used}, which the layout lists after it"
            );
        }
    }
}
