/**
 * Arithmetic mod 2^32 on Uint32Array. A store into a Uint32Array applies
 * ToUint32, so `a[i] + b[i]` (exact below 2^53) and `a[i] - b[i]` wrap correctly.
 */

/** `target += source (mod 2^32)`, element-wise. */
export function addMod32InPlace(target: Uint32Array, source: Uint32Array): void {
  if (target.length !== source.length) throw new RangeError(`length ${source.length} does not match ${target.length}`);
  for (let i = 0; i < target.length; i++) target[i] += source[i];
}

/** `target -= source (mod 2^32)`, element-wise. */
export function subtractMod32InPlace(target: Uint32Array, source: Uint32Array): void {
  if (target.length !== source.length) throw new RangeError(`length ${source.length} does not match ${target.length}`);
  for (let i = 0; i < target.length; i++) target[i] -= source[i];
}
