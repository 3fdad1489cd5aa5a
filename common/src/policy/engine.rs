//! The one wasmtime [`Engine`] of a process and the limits every call runs under: fuel, a
//! wall-clock backstop (epoch interruption, ticked by one thread), linear memory, module size,
//! and the pooling instance allocator that makes a fresh instance per call cheap.

use std::sync::OnceLock;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Fuel per call (about one unit per WebAssembly instruction). Shopify Functions allow 11
/// million; the examples need under 10 000, so a million leaves room for real logic while an
/// infinite loop is stopped in about a millisecond.
pub const FUEL_PER_CALL: u64 = 1_000_000;
/// Fuel between yields to the async runtime, so a long call never holds a runtime thread.
pub const FUEL_YIELD_INTERVAL: u64 = 20_000;
/// How often the epoch ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Ticks a call may run for: the wall-clock backstop is 4 to 5 ms.
pub const EPOCH_DEADLINE_TICKS: u64 = 5;
/// Times the deadline is pushed back for a call that has used under a quarter of its fuel (it
/// was waiting for a CPU, not computing): at most about half a second of wall time in all. Such
/// a call costs the worker nothing, and it yields to the runtime whenever it does compute.
pub const MAX_DEADLINE_EXTENSIONS: u32 = 100;
/// Most linear memory a module may have.
pub const MAX_MEMORY_BYTES: usize = 16 << 20;
/// Largest binary module accepted.
pub const MAX_MODULE_BYTES: usize = 1 << 20;
/// Largest `.wat` text accepted.
pub const MAX_TEXT_BYTES: usize = 4 << 20;
/// Instances (one per call in flight) the pool holds.
pub const POOL_INSTANCES: u32 = 512;
/// Bytes of memory, table and stack a pool slot keeps resident (zeroed in place) between calls.
const KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// Deepest WebAssembly stack.
const MAX_WASM_STACK: usize = 256 << 10;

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The process's engine, built on first use with its epoch ticker thread.
pub fn engine() -> Result<&'static Engine, String> {
    ENGINE.get_or_init(build).as_ref().map_err(Clone::clone)
}

fn build() -> Result<Engine, String> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(POOL_INSTANCES)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES)
        .total_stacks(POOL_INSTANCES)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .max_memory_size(MAX_MEMORY_BYTES)
        // Reset a slot's first pages with memset instead of madvise + page faults per call.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES)
        .async_stack_keep_resident(KEEP_RESIDENT_BYTES);
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK * 2)
        // Slots of exactly the cap: bounds are checked explicitly and the pool stays small.
        .memory_reservation(MAX_MEMORY_BYTES as u64)
        .memory_guard_size(64 << 10)
        .memory_reservation_for_growth(0)
        // Copy a small module's data segments instead of mapping a copy-on-write image per call.
        .memory_init_cow(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).map_err(|e| format!("the WebAssembly engine could not start: {e}"))?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("shoal-wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| format!("the WebAssembly epoch ticker could not start: {e}"))?;
    Ok(engine)
}
