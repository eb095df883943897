import { describe, expect, it } from 'vitest';
import { newResourceId } from '../../../src/fhir/repository/ids.js';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

describe('newResourceId', () => {
  it('gives valid FHIR ids that are unique and sort in the order they were made', () => {
    const ids = Array.from({ length: 20_000 }, () => newResourceId());
    for (const id of ids) {
      expect(id).toMatch(FHIR_ID);
      expect(id[14]).toBe('7');
    }
    expect(new Set(ids).size).toBe(ids.length);
    // many ids share a millisecond; the generator still keeps them in order
    expect([...ids].sort()).toEqual(ids);
  });

  it('carries the creation time in its first 48 bits', () => {
    const before = Date.now();
    const id = newResourceId();
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(Date.now());
  });
});
