import { describe, expect, it } from 'vitest';
import { getValueSetCodes } from '../../../src/fhir/validation/terminology.js';

describe('value set expansion from the R4 definitions', () => {
  it('expands a value set that lists a whole code system, ignoring the version in the canonical', () => {
    const codes = getValueSetCodes('http://hl7.org/fhir/ValueSet/appointmentstatus|4.0.1');
    expect([...(codes?.codes ?? [])].sort()).toEqual(
      ['arrived', 'booked', 'cancelled', 'checked-in', 'entered-in-error', 'fulfilled', 'noshow', 'pending', 'proposed', 'waitlist'].sort(),
    );
    expect(codes?.bySystem.get('http://hl7.org/fhir/appointmentstatus')?.has('noshow')).toBe(true);
  });

  it('follows is-a filters through a hierarchical code system', () => {
    const codes = getValueSetCodes('http://hl7.org/fhir/ValueSet/parent-relationship-codes');
    const roleCodes = codes?.bySystem.get('http://terminology.hl7.org/CodeSystem/v3-RoleCode');
    expect(roleCodes?.has('PRN')).toBe(true); // is-a includes the concept itself
    expect(roleCodes?.has('MTH')).toBe(true); // mother, a kind of parent
    expect(roleCodes?.has('FRND')).toBe(false);
  });

  it('unions included value sets', () => {
    const codes = getValueSetCodes('http://hl7.org/fhir/ValueSet/event-or-request-resource-types');
    expect(codes?.codes.has('Encounter')).toBe(true); // an event
    expect(codes?.codes.has('ServiceRequest')).toBe(true); // a request
  });

  it('gives up on value sets that need a terminology server, so they cannot cause false errors', () => {
    expect(getValueSetCodes('http://hl7.org/fhir/ValueSet/mimetypes')).toBeUndefined(); // urn:ietf:bcp:13
    expect(getValueSetCodes('http://hl7.org/fhir/ValueSet/condition-stage-type')).toBeUndefined(); // SNOMED CT
    expect(getValueSetCodes('http://example.org/ValueSet/unknown')).toBeUndefined();
  });
});
