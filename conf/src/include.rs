//! `include path...;`: splicing other files into the tree, at any level.
//!
//! SRS opens an included path as given, that is relative to the server's working directory
//! (`include ./conf/include.vhost.conf;` in SRS's own examples, run from `trunk/`). We do the
//! same when the path exists there, and otherwise look next to the including file, which is
//! what a user who keeps all configs in one folder expects.
//!
//! The file system is behind [`IncludeFs`] so that the resolution rules are tested without
//! touching the disk; [`RealFs`] is the real one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::ConfError;
use crate::limits::{MAX_DEPTH, MAX_FILE_SIZE, MAX_INCLUDE_DEPTH, MAX_TOTAL_SIZE};
use crate::parser::{parse_bytes_arc, Directive};

/// The file system as the include resolver sees it.
pub trait IncludeFs {
    /// Whether `path` names an existing file (a relative path is relative to the process's
    /// working directory).
    fn exists(&self, path: &Path) -> bool;

    /// Reads the whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// A name that is the same for every path to the same file, to detect include loops.
    /// The default is the path itself.
    fn identity(&self, path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl IncludeFs for RealFs {
    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        // Refuse a huge file before reading it all into memory.
        let meta = std::fs::metadata(path)?;
        if meta.len() > MAX_FILE_SIZE as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file is larger than {MAX_FILE_SIZE} bytes"),
            ));
        }
        std::fs::read(path)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Reads, parses and resolves the includes of the config file at `path`, from the real file
/// system.
pub fn load_tree(path: &Path) -> Result<Vec<Directive>, ConfError> {
    load_tree_with(&RealFs, path)
}

/// [`load_tree`] over any [`IncludeFs`].
pub fn load_tree_with(fs: &dyn IncludeFs, path: &Path) -> Result<Vec<Directive>, ConfError> {
    let file: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
    let data = fs.read(path).map_err(|source| ConfError::Io {
        file: file.clone(),
        source,
    })?;
    let tree = parse_bytes_arc(&data, file)?;
    let mut state = State {
        fs,
        chain: vec![fs.identity(path)],
        total: data.len(),
    };
    state.resolve(tree, path, 0)
}

/// Expands every `include` directive of `tree` (which was read from `file`), recursively.
///
/// Rules: a relative path is taken from the working directory if it exists there, else from
/// the including file's directory; several paths in one `include` are spliced in order; an
/// include loop, includes nested more than [`MAX_INCLUDE_DEPTH`] deep, blocks nested more
/// than [`MAX_DEPTH`] deep once spliced, or more than [`MAX_TOTAL_SIZE`] bytes read in all,
/// are errors at the line of the `include`.
pub fn resolve_includes(
    fs: &dyn IncludeFs,
    tree: Vec<Directive>,
    file: &Path,
) -> Result<Vec<Directive>, ConfError> {
    let mut state = State {
        fs,
        chain: vec![fs.identity(file)],
        total: 0,
    };
    state.resolve(tree, file, 0)
}

struct State<'a> {
    fs: &'a dyn IncludeFs,
    /// Identities of the files being included, outermost first, to detect loops.
    chain: Vec<PathBuf>,
    /// Bytes read so far, over all files.
    total: usize,
}

impl State<'_> {
    /// Resolves the includes in `tree`, read from `file`; `depth` is the number of blocks
    /// around `tree` (for nested includes inside a block).
    fn resolve(
        &mut self,
        tree: Vec<Directive>,
        file: &Path,
        depth: usize,
    ) -> Result<Vec<Directive>, ConfError> {
        let mut out = Vec::with_capacity(tree.len());
        for mut d in tree {
            if d.name != "include" {
                if !d.children.is_empty() {
                    let children = std::mem::take(&mut d.children);
                    d.children = self.resolve(children, file, depth + 1)?;
                }
                out.push(d);
                continue;
            }
            if d.block {
                return Err(include_error(&d, "include cannot have a block".to_string()));
            }
            if d.args.is_empty() {
                return Err(include_error(&d, "include needs a file name".to_string()));
            }
            for name in &d.args {
                let included = self.include_one(&d, file, name, depth)?;
                out.extend(included);
            }
        }
        Ok(out)
    }

    fn include_one(
        &mut self,
        at: &Directive,
        file: &Path,
        name: &str,
        depth: usize,
    ) -> Result<Vec<Directive>, ConfError> {
        let path = find(self.fs, file, name).ok_or_else(|| {
            let beside = beside(file, name);
            let looked = if Path::new(name).is_absolute() || beside == Path::new(name) {
                name.to_string()
            } else {
                format!("{name} and {}", beside.display())
            };
            include_error(
                at,
                format!("include file \"{name}\" not found (looked for {looked})"),
            )
        })?;
        if self.chain.len() > MAX_INCLUDE_DEPTH {
            return Err(include_error(
                at,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels"),
            ));
        }
        let identity = self.fs.identity(&path);
        if self.chain.contains(&identity) {
            return Err(include_error(
                at,
                format!(
                    "include loop: \"{}\" is already being included",
                    path.display()
                ),
            ));
        }
        let data = self.fs.read(&path).map_err(|e| {
            include_error(
                at,
                format!("cannot read include file \"{}\": {e}", path.display()),
            )
        })?;
        self.total = self.total.saturating_add(data.len());
        if self.total > MAX_TOTAL_SIZE {
            return Err(include_error(
                at,
                format!("included files add up to more than {MAX_TOTAL_SIZE} bytes"),
            ));
        }
        let tree = parse_bytes_arc(&data, Arc::from(path.to_string_lossy().as_ref()))?;
        if depth + max_depth(&tree) > MAX_DEPTH {
            return Err(include_error(
                at,
                format!(
                    "blocks nested deeper than {MAX_DEPTH} levels once \"{}\" is included here",
                    path.display()
                ),
            ));
        }
        self.chain.push(identity);
        let resolved = self.resolve(tree, &path, depth);
        self.chain.pop();
        resolved
    }
}

/// The path `name` refers to, from the file `from`: the working directory first, as SRS,
/// then beside `from`.
fn find(fs: &dyn IncludeFs, from: &Path, name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if fs.exists(p) {
        return Some(p.to_path_buf());
    }
    if p.is_absolute() {
        return None;
    }
    let q = beside(from, name);
    fs.exists(&q).then_some(q)
}

fn beside(from: &Path, name: &str) -> PathBuf {
    match from.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

/// The deepest block nesting in `tree` (0 for directives without blocks).
fn max_depth(tree: &[Directive]) -> usize {
    tree.iter()
        .map(|d| {
            if d.block || !d.children.is_empty() {
                1 + max_depth(&d.children)
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
}

fn include_error(at: &Directive, message: String) -> ConfError {
    ConfError::Include {
        file: at.file.clone(),
        line: at.line,
        message,
    }
}

/// An in-memory [`IncludeFs`] for tests: a map from path to content. Relative paths are
/// looked up as written.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    files: std::collections::HashMap<PathBuf, Vec<u8>>,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn add(&mut self, path: impl AsRef<Path>, content: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(normalize(path.as_ref()), content.into());
        self
    }
}

/// Lexical normalisation, enough for a map: drops `.` components.
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

impl IncludeFs for MemFs {
    fn exists(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn identity(&self, path: &Path) -> PathBuf {
        normalize(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse_str;

    fn load(fs: &MemFs, path: &str) -> Result<Vec<Directive>, ConfError> {
        load_tree_with(fs, Path::new(path))
    }

    fn names(tree: &[Directive]) -> Vec<String> {
        tree.iter()
            .map(|d| format!("{}@{}:{}", d.name, d.file, d.line))
            .collect()
    }

    #[test]
    fn splices_at_top_level_and_in_blocks() {
        let mut fs = MemFs::new();
        fs.add(
            "etc/main.conf",
            "listen 1935;\ninclude vhosts.conf;\nvhost b {\n  include play.conf;\n}\n",
        )
        .add("etc/vhosts.conf", "vhost a {\n}\n")
        .add("etc/play.conf", "\nplay { gop_cache off; }\n");
        let tree = load(&fs, "etc/main.conf").unwrap();
        assert_eq!(
            names(&tree),
            [
                "listen@etc/main.conf:1",
                "vhost@etc/vhosts.conf:1",
                "vhost@etc/main.conf:3"
            ]
        );
        assert_eq!(names(&tree[2].children), ["play@etc/play.conf:2"]);
        assert_eq!(tree[2].children[0].children[0].args, ["off"]);
    }

    #[test]
    fn several_files_in_one_include() {
        let mut fs = MemFs::new();
        fs.add("m.conf", "include a.conf b.conf;")
            .add("a.conf", "a;")
            .add("b.conf", "b;");
        let tree = load(&fs, "m.conf").unwrap();
        assert_eq!(names(&tree), ["a@a.conf:1", "b@b.conf:1"]);
    }

    #[test]
    fn working_directory_first_then_beside_the_file() {
        // SRS resolves `./conf/x.conf` from its working directory: that wins when it exists.
        let mut fs = MemFs::new();
        fs.add("conf/main.conf", "include ./conf/x.conf;")
            .add("./conf/x.conf", "from_cwd;")
            .add("conf/conf/x.conf", "beside;");
        assert_eq!(load(&fs, "conf/main.conf").unwrap()[0].name, "from_cwd");
        // Otherwise it is looked up next to the including file.
        let mut fs = MemFs::new();
        fs.add("conf/main.conf", "include ./conf/x.conf;")
            .add("conf/./conf/x.conf", "beside;");
        assert_eq!(load(&fs, "conf/main.conf").unwrap()[0].name, "beside");
        // Absolute paths are taken as they are.
        let mut fs = MemFs::new();
        fs.add("conf/main.conf", "include /etc/x.conf;")
            .add("/etc/x.conf", "abs;");
        assert_eq!(load(&fs, "conf/main.conf").unwrap()[0].name, "abs");
    }

    #[test]
    fn not_found() {
        let mut fs = MemFs::new();
        fs.add("conf/main.conf", "a;\n\ninclude nope.conf;\n");
        assert_eq!(
            load(&fs, "conf/main.conf").unwrap_err().to_string(),
            "conf/main.conf:3: include file \"nope.conf\" not found (looked for nope.conf and conf/nope.conf)"
        );
    }

    #[test]
    fn top_level_file_missing_is_io_error() {
        let err = load(&MemFs::new(), "missing.conf").unwrap_err();
        assert!(matches!(err, ConfError::Io { .. }));
        assert_eq!(err.line(), None);
        assert!(
            err.to_string()
                .starts_with("missing.conf: cannot read config file: "),
            "{err}"
        );
    }

    #[test]
    fn loops() {
        let mut fs = MemFs::new();
        fs.add("a.conf", "include b.conf;")
            .add("b.conf", "x;\ninclude ./a.conf;");
        assert_eq!(
            load(&fs, "a.conf").unwrap_err().to_string(),
            "b.conf:2: include loop: \"./a.conf\" is already being included"
        );
        let mut fs = MemFs::new();
        fs.add("self.conf", "include self.conf;");
        assert_eq!(
            load(&fs, "self.conf").unwrap_err().to_string(),
            "self.conf:1: include loop: \"self.conf\" is already being included"
        );
        // Including the same file twice, side by side, is not a loop.
        let mut fs = MemFs::new();
        fs.add("m.conf", "include v.conf;\ninclude v.conf;")
            .add("v.conf", "v;");
        assert_eq!(load(&fs, "m.conf").unwrap().len(), 2);
    }

    #[test]
    fn include_depth_limit() {
        let chain = |n: usize| {
            let mut fs = MemFs::new();
            for i in 0..n {
                fs.add(format!("f{i}.conf"), format!("include f{}.conf;", i + 1));
            }
            fs.add(format!("f{n}.conf"), "end;");
            fs
        };
        assert_eq!(
            load(&chain(MAX_INCLUDE_DEPTH), "f0.conf").unwrap()[0].name,
            "end"
        );
        assert_eq!(
            load(&chain(MAX_INCLUDE_DEPTH + 1), "f0.conf")
                .unwrap_err()
                .to_string(),
            "f16.conf:1: includes nested deeper than 16 levels"
        );
    }

    #[test]
    fn block_depth_counts_across_includes() {
        let mut fs = MemFs::new();
        let inner = format!(
            "{}{}",
            "b {\n".repeat(MAX_DEPTH - 1),
            "}\n".repeat(MAX_DEPTH - 1)
        );
        fs.add("ok.conf", "a {\n include inner.conf;\n}")
            .add("inner.conf", inner.clone());
        assert_eq!(load(&fs, "ok.conf").unwrap().len(), 1);
        fs.add("deep.conf", "a {\n a {\n  include inner.conf;\n }\n}");
        assert_eq!(
            load(&fs, "deep.conf").unwrap_err().to_string(),
            "deep.conf:3: blocks nested deeper than 32 levels once \"inner.conf\" is included here"
        );
    }

    #[test]
    fn bad_include_directives() {
        let mut fs = MemFs::new();
        fs.add("m.conf", "include;")
            .add("n.conf", "include x.conf { }");
        assert_eq!(
            load(&fs, "m.conf").unwrap_err().to_string(),
            "m.conf:1: include needs a file name"
        );
        assert_eq!(
            load(&fs, "n.conf").unwrap_err().to_string(),
            "n.conf:1: include cannot have a block"
        );
    }

    #[test]
    fn errors_inside_included_files_name_that_file() {
        let mut fs = MemFs::new();
        fs.add("m.conf", "include v.conf;")
            .add("v.conf", "vhost a {\n  x\n}\n");
        assert_eq!(
            load(&fs, "m.conf").unwrap_err().to_string(),
            "v.conf:2: missing \";\" after directive \"x\""
        );
    }

    #[test]
    fn resolve_includes_from_a_parsed_tree() {
        let mut fs = MemFs::new();
        fs.add("dir/v.conf", "v;");
        let tree = parse_str("a;\ninclude v.conf;", "dir/m.conf").unwrap();
        let tree = resolve_includes(&fs, tree, Path::new("dir/m.conf")).unwrap();
        assert_eq!(names(&tree), ["a@dir/m.conf:1", "v@dir/v.conf:1"]);
    }

    /// A temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "srs-conf-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("sub")).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn real_files_beside_the_including_file() {
        let tmp = TempDir::new("real");
        let main = tmp.0.join("main.conf");
        std::fs::write(
            &main,
            "listen 1935;\ninclude sub/vhost-srs-conf-test.conf;\n",
        )
        .unwrap();
        std::fs::write(
            tmp.0.join("sub/vhost-srs-conf-test.conf"),
            "vhost a {\n  include ../play-srs-conf-test.conf;\n}\n",
        )
        .unwrap();
        std::fs::write(tmp.0.join("play-srs-conf-test.conf"), "play;\n").unwrap();
        let tree = load_tree(&main).unwrap();
        assert_eq!(tree[1].name, "vhost");
        assert_eq!(tree[1].children[0].name, "play");
        assert!(tree[1].children[0]
            .file
            .ends_with("play-srs-conf-test.conf"));

        // An absolute path works too; a loop through real paths is caught.
        std::fs::write(
            tmp.0.join("loop.conf"),
            format!("include {};", tmp.0.join("loop.conf").display()),
        )
        .unwrap();
        let err = load_tree(&tmp.0.join("loop.conf")).unwrap_err();
        assert!(err.to_string().contains("include loop"), "{err}");

        let err = load_tree(&tmp.0.join("absent.conf")).unwrap_err();
        assert!(matches!(err, ConfError::Io { .. }));
    }
}
