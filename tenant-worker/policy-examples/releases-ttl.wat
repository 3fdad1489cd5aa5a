;; Caches releases and tags for an hour; everything else is served with the relay's TTL.
(module
  (import "shoal" "path" (func $path (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (data (i32.const 0) "/releases")
  (data (i32.const 16) "/tags")
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

  ;; 1 when the n bytes at needle occur in hay..hay+len.
  (func $contains (param $hay i32) (param $len i32) (param $needle i32) (param $n i32) (result i32)
    (local $end i32)
    (local.set $end (i32.sub (i32.add (local.get $hay) (local.get $len)) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.gt_s (local.get $hay) (local.get $end)))
        (if (call $eq (local.get $hay) (local.get $needle) (local.get $n))
          (then (return (i32.const 1))))
        (local.set $hay (i32.add (local.get $hay) (i32.const 1)))
        (br $next)))
    (i32.const 0))
  (func (export "decide") (result i64)
    (local $len i32)
    (local.set $len (call $path (i32.const 1024) (i32.const 8192)))
    ;; A path longer than the buffer is served with the relay's TTL.
    (if (i32.gt_s (local.get $len) (i32.const 8192)) (then (return (i64.const 0))))
    (if (i32.or
          (call $contains (i32.const 1024) (local.get $len) (i32.const 0) (i32.const 9))
          (call $contains (i32.const 1024) (local.get $len) (i32.const 16) (i32.const 5)))
      ;; serve (0) with the TTL flag (0x100) and 3600 s in the high 32 bits
      (then (return (i64.const 15461882265856))))
    (i64.const 0)))
