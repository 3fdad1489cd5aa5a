;; Only the members alice and bob may read octo-org/hello-world; every other repository is
;; served to everyone. A refusal is logged.
(module
  (import "shoal" "repo" (func $repo (param i32 i32) (result i32)))
  (import "shoal" "member_login" (func $member_login (param i32 i32) (result i32)))
  (import "shoal" "deny_reason" (func $deny_reason (param i32 i32)))
  (import "shoal" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (data (i32.const 0) "octo-org/hello-world")
  ;; The allowed logins, each preceded by its length; a zero length ends the list.
  (data (i32.const 64) "\05alice\03bob\00")
  (data (i32.const 128) "only alice and bob read octo-org/hello-world")
  (data (i32.const 256) "refused a member outside the list")
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
    (local $at i32)
    (local $n i32)
    (if (i32.ne (call $repo (i32.const 1024) (i32.const 256)) (i32.const 20))
      (then (return (i64.const 0))))
    (if (i32.eqz (call $eq (i32.const 0) (i32.const 1024) (i32.const 20)))
      (then (return (i64.const 0))))
    (local.set $len (call $member_login (i32.const 2048) (i32.const 256)))
    (local.set $at (i32.const 64))
    (block $done
      (loop $next
        (local.set $n (i32.load8_u (local.get $at)))
        (br_if $done (i32.eqz (local.get $n)))
        (if (i32.eq (local.get $n) (local.get $len))
          (then (if (call $eq (i32.add (local.get $at) (i32.const 1)) (i32.const 2048) (local.get $n))
            (then (return (i64.const 0))))))
        (local.set $at (i32.add (local.get $at) (i32.add (local.get $n) (i32.const 1))))
        (br $next)))
    (call $log (i32.const 1) (i32.const 256) (i32.const 33))
    (call $deny_reason (i32.const 128) (i32.const 44))
    (i64.const 1)))
