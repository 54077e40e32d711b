import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, topologyHash } from './topology-hash.ts';

describe('canonicalJson / topologyHash', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: null }] })).toBe('{"a":[2,{"c":null,"d":3}],"b":1}');
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
  });

  it('hashes equal topologies equally, whatever their key order, and differs otherwise', () => {
    const a = { class_name: 'Sequential', config: { name: 'm', layers: [{ units: 10, name: 'output' }] } };
    const b = { config: { layers: [{ name: 'output', units: 10 }], name: 'm' }, class_name: 'Sequential' };
    const c = { class_name: 'Sequential', config: { name: 'm', layers: [{ units: 11, name: 'output' }] } };
    expect(topologyHash(a)).toBe(topologyHash(b));
    expect(topologyHash(a)).not.toBe(topologyHash(c));
    expect(topologyHash(a)).toBe(createHash('sha256').update(canonicalJson(b)).digest('hex'));
  });
});
