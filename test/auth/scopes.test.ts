import { describe, expect, it } from 'vitest';
import { grantScopes, parseResourceScope, scopeCovers } from '../../src/auth/scopes.js';

describe('SMART scopes', () => {
  it('parses v2 scopes and maps the v1 forms', () => {
    expect([...parseResourceScope('patient/Appointment.rs')!.permissions]).toEqual(['r', 's']);
    expect([...parseResourceScope('user/*.cruds')!.permissions]).toEqual(['c', 'r', 'u', 'd', 's']);
    expect([...parseResourceScope('system/Observation.read')!.permissions]).toEqual(['r', 's']);
    expect([...parseResourceScope('user/Patient.write')!.permissions]).toEqual(['c', 'u', 'd']);
    expect([...parseResourceScope('user/*.*')!.permissions]).toEqual(['c', 'r', 'u', 'd', 's']);
  });

  it('refuses malformed scopes and v2 query scopes it cannot enforce', () => {
    expect(parseResourceScope('user/*.sr')).toBeUndefined();
    expect(parseResourceScope('user/*.rr')).toBeUndefined();
    expect(parseResourceScope('admin/*.r')).toBeUndefined();
    expect(parseResourceScope('patient/Observation.rs?category=laboratory')).toBeUndefined();
    expect(parseResourceScope('openid')).toBeUndefined();
  });

  it('narrows requested scopes to what is allowed', () => {
    expect(scopeCovers('system/*.cruds', 'system/Patient.rs')).toBe(true);
    expect(scopeCovers('system/*.rs', 'system/Patient.c')).toBe(false);
    expect(scopeCovers('system/*.rs', 'user/Patient.r')).toBe(false);
    expect(grantScopes(['system/*.rs'], ['system/Patient.read', 'system/Patient.write'])).toEqual(['system/Patient.read']);
    expect(grantScopes(['system/*.rs'], undefined)).toEqual(['system/*.rs']);
  });
});
