;; Sends every search to fallback_local: the caller's own gh runs it.
(module
  (import "shoal" "route_class" (func $route_class (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (data (i32.const 0) "search")
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
    (if (i32.eq (call $route_class (i32.const 1024) (i32.const 64)) (i32.const 6))
      (then (if (call $eq (i32.const 0) (i32.const 1024) (i32.const 6))
        (then (return (i64.const 2))))))
    (i64.const 0)))
