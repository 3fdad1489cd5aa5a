// The owner rule of owner-only.wat, in AssemblyScript: serve octo-org, deny every other request.
// Built by infra/dev/build-policy-examples.sh (`make deps`, which `make test` runs):
//   asc owner-only.ts --runtime stub --use abort= -O3 -o owner-only.wasm

@external("shoal", "owner")
declare function owner(ptr: usize, cap: i32): i32;

@external("shoal", "deny_reason")
declare function deny_reason(ptr: usize, len: i32): void;

// The policy ABI version this module implements.
export const shoal_policy_abi_version: i32 = 1;

const SERVE: i64 = 0;
const DENY: i64 = 1;
const CAP: i32 = 256;

export function decide(): i64 {
  const allowed = String.UTF8.encode("octo-org");
  const buf = new ArrayBuffer(CAP);
  const len = owner(changetype<usize>(buf), CAP);
  if (len == allowed.byteLength && memory.compare(changetype<usize>(buf), changetype<usize>(allowed), len) == 0) {
    return SERVE;
  }
  const reason = String.UTF8.encode("this relay reads octo-org only");
  deny_reason(changetype<usize>(reason), reason.byteLength);
  return DENY;
}
