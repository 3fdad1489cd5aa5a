//! Loading a module: `.wat` text or `.wasm` binary, within the size caps, compiled from the
//! WebAssembly (never from precompiled bytes), importing only `shoal`, exporting the entry point
//! and a known ABI version. A loaded [`Program`] is compiled once and instantiated per call.

use super::Facts;
use super::abi::{ABI_VERSION, ENTRY, IMPORTS, NAMESPACE, VERSION_EXPORT};
use super::engine::{FUEL_PER_CALL, MAX_MODULE_BYTES, MAX_TEXT_BYTES, engine};
use super::host::{HostState, linker};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use wasmtime::{ExternType, InstancePre, Module, Store, ValType};

/// Why a module was refused. Messages are for the admin who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("the module is {size} bytes; the limit is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("not a WebAssembly module (.wasm) or text (.wat): {0}")]
    NotWasm(String),
    #[error("the module does not compile: {0}")]
    Invalid(String),
    #[error("the module imports {0}; a policy module may import only functions of the `shoal` namespace")]
    ForbiddenImport(String),
    #[error("the module imports shoal.{0}, which does not exist (see the README for the imports)")]
    UnknownImport(String),
    #[error("the module must export {0}")]
    MissingExport(String),
    #[error("the module implements policy ABI version {0}; this relay knows version {ABI_VERSION}")]
    UnknownVersion(i64),
    #[error("{0}")]
    Engine(String),
}

/// A validated, compiled module, ready to run on a request.
pub struct Program {
    sha256: String,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) fuel: u64,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({})", self.sha256)
    }
}

/// The binary module of an upload: `.wasm` as is, `.wat` compiled with the `wat` crate.
pub fn to_binary(source: &[u8]) -> Result<Vec<u8>, LoadError> {
    let binary = if source.starts_with(b"\0asm") {
        source.to_vec()
    } else {
        if source.len() > MAX_TEXT_BYTES {
            return Err(LoadError::TooLarge {
                size: source.len(),
                max: MAX_TEXT_BYTES,
            });
        }
        wat::parse_bytes(source)
            .map_err(|e| LoadError::NotWasm(e.to_string()))?
            .into_owned()
    };
    if binary.len() > MAX_MODULE_BYTES {
        return Err(LoadError::TooLarge {
            size: binary.len(),
            max: MAX_MODULE_BYTES,
        });
    }
    Ok(binary)
}

impl Program {
    /// Validates and compiles `source` (`.wat` or `.wasm`).
    pub fn load(source: &[u8]) -> Result<Self, LoadError> {
        Self::from_binary(&to_binary(source)?)
    }

    /// Validates and compiles a binary module.
    pub fn from_binary(binary: &[u8]) -> Result<Self, LoadError> {
        if binary.len() > MAX_MODULE_BYTES {
            return Err(LoadError::TooLarge {
                size: binary.len(),
                max: MAX_MODULE_BYTES,
            });
        }
        let engine = engine().map_err(LoadError::Engine)?;
        let module = Module::new(engine, binary).map_err(|e| LoadError::Invalid(e.to_string()))?;
        for import in module.imports() {
            if import.module() != NAMESPACE {
                return Err(LoadError::ForbiddenImport(format!(
                    "{}.{}",
                    import.module(),
                    import.name()
                )));
            }
            if !IMPORTS.iter().any(|(name, _)| *name == import.name()) {
                return Err(LoadError::UnknownImport(import.name().into()));
            }
        }
        let entry_ok = matches!(module.get_export(ENTRY), Some(ExternType::Func(f))
            if f.params().len() == 0 && f.results().map(|r| matches!(r, ValType::I64)).eq([true]));
        if !entry_ok {
            return Err(LoadError::MissingExport(format!("the function `{ENTRY}: () -> i64`")));
        }
        let pre = linker(engine)
            .and_then(|l| l.instantiate_pre(&module))
            .map_err(|e| LoadError::Invalid(e.to_string()))?;
        let version = abi_version(&pre)?;
        if version != i64::from(ABI_VERSION) {
            return Err(LoadError::UnknownVersion(version));
        }
        Ok(Self {
            sha256: hex::encode(Sha256::digest(binary)),
            pre,
            fuel: FUEL_PER_CALL,
        })
    }

    /// The same program with `fuel` per call instead of [`FUEL_PER_CALL`] (tests and benchmarks
    /// that show the wall-clock backstop).
    pub fn with_fuel(mut self, fuel: u64) -> Self {
        self.fuel = fuel;
        self
    }

    /// Hex SHA-256 of the binary module.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// The module's `shoal_policy_abi_version`: an `i32` global or a `() -> i32` function.
fn abi_version(pre: &InstancePre<HostState>) -> Result<i64, LoadError> {
    let missing = || LoadError::MissingExport(format!("`{VERSION_EXPORT}`, an i32 global or a function () -> i32"));
    let mut store = Store::new(pre.module().engine(), HostState::new(Arc::new(Facts::default())));
    store.limiter(|s| s);
    store.set_epoch_deadline(super::engine::EPOCH_DEADLINE_TICKS);
    store
        .set_fuel(FUEL_PER_CALL)
        .map_err(|e| LoadError::Engine(e.to_string()))?;
    let instance = pre
        .instantiate(&mut store)
        .map_err(|e| LoadError::Invalid(format!("the module does not instantiate: {e}")))?;
    if let Some(g) = instance.get_global(&mut store, VERSION_EXPORT) {
        return g.get(&mut store).i32().map(i64::from).ok_or_else(missing);
    }
    let f = instance
        .get_typed_func::<(), i32>(&mut store, VERSION_EXPORT)
        .map_err(|_| missing())?;
    f.call(&mut store, ())
        .map(i64::from)
        .map_err(|e| LoadError::Invalid(format!("`{VERSION_EXPORT}` failed: {e}")))
}
