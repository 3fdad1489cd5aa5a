;; Denies every request outside the owner octo-org (searches and other requests that name no
;; owner included).
(module
  (import "shoal" "owner" (func $owner (param i32 i32) (result i32)))
  (import "shoal" "deny_reason" (func $deny_reason (param i32 i32)))
  (memory (export "memory") 1)
  (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (data (i32.const 0) "octo-org")
  (data (i32.const 64) "this relay reads octo-org only")
  ;; 1 when the n bytes at a and b are equal.
  (func $eq (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b)))
          (then (return (i32.const 0))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  (func (export "decide") (result i64)
    (local $len i32)
    ;; The owner is copied to 1024 when it fits in 256 bytes; -1 means the request names none.
    (local.set $len (call $owner (i32.const 1024) (i32.const 256)))
    (if (i32.eq (local.get $len) (i32.const 8))
      (then (if (call $eq (i32.const 0) (i32.const 1024) (i32.const 8))
        (then (return (i64.const 0))))))
    (call $deny_reason (i32.const 64) (i32.const 30))
    (i64.const 1)))
