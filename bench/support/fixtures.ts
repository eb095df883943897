import type { Patient } from '@medplum/fhirtypes';

/** A Patient about the size and shape of a Synthea / US Core patient (names, identifiers, address, telecom). */
export function samplePatient(n: number): Patient {
  return {
    resourceType: 'Patient',
    meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] },
    identifier: [
      { system: 'https://github.com/synthetichealth/synthea', value: `synthea-${n}` },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical Record Number' }], text: 'Medical Record Number' },
        system: 'http://hospital.smarthealthit.org',
        value: `MRN-${n}`,
      },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'SS', display: 'Social Security Number' }], text: 'Social Security Number' },
        system: 'http://hl7.org/fhir/sid/us-ssn',
        value: `999-${String(n % 100).padStart(2, '0')}-${String(n % 10000).padStart(4, '0')}`,
      },
    ],
    name: [{ use: 'official', family: `Family${n % 997}`, given: [`Given${n % 113}`, 'Marie'], prefix: ['Mrs.'] }],
    telecom: [{ system: 'phone', value: `555-${String(n % 1000).padStart(3, '0')}-0100`, use: 'home' }],
    gender: n % 2 ? 'female' : 'male',
    birthDate: `19${String(40 + (n % 60)).padStart(2, '0')}-0${1 + (n % 9)}-1${n % 10}`,
    address: [{ line: [`${n} Main Street`], city: 'Boston', state: 'MA', postalCode: '02101', country: 'US' }],
    maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M', display: 'Married' }], text: 'M' },
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US', display: 'English (United States)' }], text: 'English' } }],
  };
}
