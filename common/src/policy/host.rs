//! The `shoal` host imports: fact getters that copy a string into guest memory only when the
//! module asks (and has room), `deny_reason`, and a rate-limited `log`. A store's data
//! ([`HostState`]) holds one request's facts and what the module said during the call.

use super::Facts;
use super::abi::{MEMORY_EXPORT, NAMESPACE};
use super::engine::MAX_MEMORY_BYTES;
use std::sync::Arc;
use wasmtime::{Caller, Engine, Extern, Linker, ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Most `log` lines kept per call; the rest are counted as dropped.
pub const LOG_LINES_PER_CALL: usize = 4;
/// Longest `log` line or deny reason kept, in bytes.
pub const MAX_TEXT_BYTES: usize = 256;

/// One call's store data.
pub struct HostState {
    facts: Arc<Facts>,
    limits: StoreLimits,
    /// Set when the module asked for more memory than its cap.
    pub(crate) memory_refused: bool,
    pub(crate) deny_reason: Option<String>,
    pub(crate) logs: Vec<(i32, String)>,
    pub(crate) logs_dropped: u32,
}

impl HostState {
    pub(crate) fn new(facts: Arc<Facts>) -> Self {
        Self {
            facts,
            limits: StoreLimitsBuilder::new()
                .memory_size(MAX_MEMORY_BYTES)
                .memories(1)
                .tables(1)
                .instances(1)
                .table_elements(10_000)
                .trap_on_grow_failure(true)
                .build(),
            memory_refused: false,
            deny_reason: None,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let r = self.limits.memory_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.memory_refused = true;
        }
        r
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// A string fact: `None` when the request has no such fact.
type StringFact = fn(&Facts) -> Option<&str>;

const STRING_FACTS: &[(&str, StringFact)] = &[
    ("method", |f| Some(&f.method)),
    ("path", |f| Some(&f.path)),
    ("route_class", |f| Some(&f.route_class)),
    ("resource", |f| Some(&f.resource)),
    ("owner", |f| f.owner.as_deref()),
    ("repo", |f| f.repo.as_deref()),
    ("graphql_operation", |f| f.graphql_operation.as_deref()),
    ("graphql_root_fields", |f| f.graphql_root_fields.as_deref()),
    ("caller_token_id", |f| Some(&f.caller_token_id)),
    ("member_login", |f| Some(&f.member_login)),
];

/// The linker with every `shoal` import.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut l = Linker::new(engine);
    for &(name, get) in STRING_FACTS {
        l.func_wrap(
            NAMESPACE,
            name,
            move |mut caller: Caller<'_, HostState>, ptr: i32, cap: i32| -> wasmtime::Result<i32> {
                let facts = caller.data().facts.clone();
                let Some(value) = get(&facts) else { return Ok(-1) };
                let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
                if cap >= len {
                    let memory = memory(&mut caller)?;
                    memory
                        .write(&mut caller, offset(ptr)?, value.as_bytes())
                        .map_err(|_| wasmtime::format_err!("{name}: ptr/cap outside memory"))?;
                }
                Ok(len)
            },
        )?;
    }
    l.func_wrap(NAMESPACE, "number", |c: Caller<'_, HostState>| -> i64 {
        c.data().facts.number.map_or(-1, |n| n as i64)
    })?;
    l.func_wrap(NAMESPACE, "repo_public", |c: Caller<'_, HostState>| -> i32 {
        c.data().facts.repo_public.map_or(-1, i32::from)
    })?;
    l.func_wrap(NAMESPACE, "default_ttl", |c: Caller<'_, HostState>| -> i64 {
        c.data().facts.default_ttl as i64
    })?;
    l.func_wrap(
        NAMESPACE,
        "deny_reason",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let text = read_text(&mut caller, ptr, len)?;
            caller.data_mut().deny_reason = Some(text);
            Ok(())
        },
    )?;
    l.func_wrap(
        NAMESPACE,
        "log",
        |mut caller: Caller<'_, HostState>, level: i32, ptr: i32, len: i32| -> wasmtime::Result<()> {
            if caller.data().logs.len() >= LOG_LINES_PER_CALL {
                caller.data_mut().logs_dropped += 1;
                return Ok(());
            }
            let text = read_text(&mut caller, ptr, len)?;
            caller.data_mut().logs.push((level, text));
            Ok(())
        },
    )?;
    Ok(l)
}

fn memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export(MEMORY_EXPORT) {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::format_err!("the module exports no `memory`")),
    }
}

fn offset(ptr: i32) -> wasmtime::Result<usize> {
    usize::try_from(ptr).map_err(|_| wasmtime::format_err!("negative pointer"))
}

/// At most [`MAX_TEXT_BYTES`] of the guest's `ptr..ptr+len`, as lossy UTF-8.
fn read_text(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> wasmtime::Result<String> {
    let len = usize::try_from(len).map_err(|_| wasmtime::format_err!("negative length"))?;
    let mut buf = vec![0u8; len.min(MAX_TEXT_BYTES)];
    let memory = memory(caller)?;
    memory
        .read(&*caller, offset(ptr)?, &mut buf)
        .map_err(|_| wasmtime::format_err!("ptr/len outside memory"))?;
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if len > MAX_TEXT_BYTES {
        text.push('…');
    }
    Ok(text)
}
