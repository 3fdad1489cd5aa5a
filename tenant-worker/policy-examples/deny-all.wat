;; Denies every request with the reason "denied by policy".
(module
  (import "shoal" "deny_reason" (func $deny_reason (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (data (i32.const 0) "denied by policy")
  (func (export "decide") (result i64)
    (call $deny_reason (i32.const 0) (i32.const 16))
    (i64.const 1)))
