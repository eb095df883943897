import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The shapes the product writes, from /work/shared/reference/fhir-telehealth.md, with ids added. */
export const VIDEO_PROVIDER_SYSTEM = 'https://telehealth-fhir.org/CodeSystem/video-provider';
export const MEETING_ID_SYSTEM = 'https://telehealth-fhir.org/sid/virtual-meeting';

export function telehealthAppointment(): Record<string, any> {
  return {
    resourceType: 'Appointment',
    id: 'appointment-123',
    status: 'booked',
    start: '2025-10-29T10:00:00Z',
    end: '2025-10-29T10:30:00Z',
    participant: [
      { actor: { reference: 'Patient/patient-789', display: 'John Doe' }, status: 'accepted' },
      { actor: { reference: 'Practitioner/prac-456', display: 'Dr. Smith' }, status: 'accepted' },
    ],
    extension: [
      {
        url: 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.virtualService',
        extension: [
          { url: 'http://hl7.org/fhir/StructureDefinition/_datatype', valueString: 'VirtualServiceDetail' },
          { url: 'channelType', valueCoding: { system: VIDEO_PROVIDER_SYSTEM, code: 'p2p' } },
          { url: 'address', valueUrl: 'https://clinic.example.org/join/ABCD2345' },
          { url: 'sessionKey', valueString: 'ABCD2345' },
        ],
      },
    ],
  };
}

export function telehealthEncounter(): Record<string, any> {
  return {
    resourceType: 'Encounter',
    id: 'encounter-321',
    status: 'in-progress',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' },
    serviceType: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '540', display: 'Online Service' }],
      text: 'Telehealth',
    },
    subject: { reference: 'Patient/patient-789' },
    participant: [
      {
        type: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' },
            ],
          },
        ],
        individual: { reference: 'Practitioner/prac-456' },
        period: { start: '2025-10-29T10:00:00.000Z' },
      },
    ],
    appointment: [{ reference: 'Appointment/appointment-123' }],
    period: { start: '2025-10-29T10:00:00.000Z' },
    identifier: [{ system: MEETING_ID_SYSTEM, value: 'meeting-0001' }],
    extension: [
      {
        url: 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.virtualService',
        extension: [
          { url: 'http://hl7.org/fhir/StructureDefinition/_datatype', valueString: 'VirtualServiceDetail' },
          { url: 'address', valueUrl: 'https://clinic.example.org/join/ABCD2345' },
        ],
      },
    ],
  };
}

const examplesDir = dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));

/** Official R4 examples of the given resource types, as [file name, resource]. */
export function officialExamples(resourceTypes: readonly string[]): [string, Record<string, any>][] {
  return readdirSync(examplesDir)
    .filter((file) => file.endsWith('.json') && resourceTypes.includes(file.slice(0, file.indexOf('-'))))
    .sort()
    .map((file) => [file, JSON.parse(readFileSync(join(examplesDir, file), 'utf8'))]);
}

export function officialExample(file: string): Record<string, any> {
  return JSON.parse(readFileSync(join(examplesDir, file), 'utf8'));
}

import { SYNTHEA_DIR } from '../../support/fixtures.js';
export { SYNTHEA_DIR };

/** Every resource of the Synthea fixture, one ndjson line each. */
export function syntheaResources(): Record<string, any>[] {
  const resources: Record<string, any>[] = [];
  for (const file of readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.ndjson')).sort()) {
    for (const line of readFileSync(join(SYNTHEA_DIR, file), 'utf8').split('\n')) {
      if (line.trim()) resources.push(JSON.parse(line));
    }
  }
  return resources;
}
