import { evalFhirPath } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { OperationOutcomeError } from '../../../src/fhir/outcomes.js';
import { loadValidationDefinitions, validateResource } from '../../../src/fhir/validation/validate.js';
import {
  SYNTHEA_DIR,
  officialExample,
  officialExamples,
  syntheaResources,
  telehealthAppointment,
  telehealthEncounter,
} from './fixtures.js';

/** The issues of the OperationOutcome a refused resource raises; fails the test if it was accepted. */
function issuesOf(resource: unknown): OperationOutcomeIssue[] {
  try {
    validateResource(resource);
  } catch (err) {
    expect(err).toBeInstanceOf(OperationOutcomeError);
    const error = err as OperationOutcomeError;
    expect(error.status).toBe(400);
    expect(error.outcome.resourceType).toBe('OperationOutcome');
    return error.outcome.issue ?? [];
  }
  throw new Error('the resource was accepted');
}

/** The one issue, or the issue at `expression`, with its code and wording. */
function issueAt(resource: unknown, expression: string): OperationOutcomeIssue {
  const issues = issuesOf(resource);
  const issue = issues.find((i) => i.expression?.includes(expression));
  if (!issue) throw new Error(`no issue at ${expression}: ${JSON.stringify(issues)}`);
  expect(issue.severity).toBe('error');
  expect(issue.diagnostics).toBeTruthy();
  return issue;
}

beforeAll(() => {
  loadValidationDefinitions();
});

describe('the resources the product writes', () => {
  it('accepts the Appointment with its virtualService cross-version extension and returns it', () => {
    const appointment = telehealthAppointment();
    expect(validateResource(appointment)).toBe(appointment);
  });

  it('accepts the Encounter created when the host joins, and the finished one', () => {
    expect(() => validateResource(telehealthEncounter())).not.toThrow();
    const finished = telehealthEncounter();
    finished.status = 'finished';
    finished.period.end = '2025-10-29T10:28:45.000Z';
    finished.participant[0].period.end = '2025-10-29T10:28:45.000Z';
    finished.length = { value: 28.75, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' };
    expect(() => validateResource(finished)).not.toThrow();
  });

  it('accepts every Appointment status of the visit flow', () => {
    for (const status of ['booked', 'arrived', 'fulfilled', 'noshow', 'cancelled']) {
      expect(() => validateResource({ ...telehealthAppointment(), status })).not.toThrow();
    }
  });

  it('accepts a resource without an id, as a create sends it', () => {
    expect(() => validateResource({ ...telehealthAppointment(), id: undefined })).not.toThrow();
  });

  it('refuses a top-level telehealth element as unknown', () => {
    const issue = issueAt({ ...telehealthAppointment(), telehealth: { provider: 'p2p' } }, 'Appointment.telehealth');
    expect(issue.code).toBe('structure');
    expect(issue.diagnostics).toContain('telehealth');
  });
});

describe('invariant app-4 (cancelation reason only when cancelled or no-show)', () => {
  const cancelationReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason', code: 'pat' }] };

  it('accepts a no-show with a cancelation reason, as the corrected (R5) expression does', () => {
    expect(() => validateResource({ ...telehealthAppointment(), status: 'noshow', cancelationReason })).not.toThrow();
    expect(() => validateResource({ ...telehealthAppointment(), status: 'cancelled', cancelationReason })).not.toThrow();
  });

  it('still refuses a cancelation reason on a booked appointment', () => {
    const issue = issueAt({ ...telehealthAppointment(), cancelationReason }, 'Appointment');
    expect(issue.code).toBe('invariant');
    expect(issue.diagnostics).toContain('app-4');
  });

  it('exists because the expression published in R4 tests a code that does not exist', () => {
    const sd = officialExample('StructureDefinition-Appointment.json');
    const published = sd.snapshot.element[0].constraint.find((c: { key: string }) => c.key === 'app-4').expression;
    expect(published).toContain("'no-show'");
    const noShow = { ...telehealthAppointment(), status: 'noshow', cancelationReason };
    expect(evalFhirPath(published, noShow)).toEqual([false]);
  });
});

describe('structural errors, from Medplum and turned into our issues', () => {
  it('refuses what is not a resource object', () => {
    for (const input of ['Patient', 42, null, [], undefined]) {
      const [issue] = issuesOf(input);
      expect(issue.code).toBe('invalid');
      expect(issue.diagnostics).toMatch(/JSON object/);
    }
  });

  it('refuses a missing, unknown or abstract resourceType', () => {
    expect(issueAt({ id: 'x' }, 'resourceType').diagnostics).toMatch(/no resourceType/);
    expect(issueAt({ resourceType: 'VirtualMeeting' }, 'resourceType').diagnostics).toMatch(/Unknown resource type "VirtualMeeting"/);
    expect(issueAt({ resourceType: 'DomainResource' }, 'resourceType').code).toBe('invalid');
    expect(issueAt({ resourceType: 'HumanName' }, 'resourceType').code).toBe('invalid');
    expect(issueAt({ resourceType: 'SubscriptionStatus', status: 'active' }, 'resourceType').code).toBe('invalid'); // R4B
    expect(issueAt({ resourceType: 7 }, 'resourceType').code).toBe('invalid');
  });

  it('checks cardinality', () => {
    const { status: _status, ...withoutStatus } = telehealthAppointment();
    expect(issueAt(withoutStatus, 'Appointment.status').code).toBe('structure');
    const serviceTypeArray = { ...telehealthEncounter(), serviceType: [telehealthEncounter().serviceType] };
    expect(issueAt(serviceTypeArray, 'Encounter.serviceType').diagnostics).toMatch(/single value/);
  });

  it('checks JSON types and primitive formats', () => {
    expect(issueAt({ resourceType: 'Patient', active: 'yes' }, 'Patient.active').diagnostics).toMatch(/expected boolean/);
    expect(issueAt({ resourceType: 'Patient', birthDate: '1980-13-01' }, 'Patient.birthDate').diagnostics).toMatch(/date format/);
    const badStart = { ...telehealthAppointment(), start: '2025-10-29 10:00' };
    expect(issueAt(badStart, 'Appointment.start').code).toBe('structure');
  });

  it('checks invariants, with the rule in the diagnostics', () => {
    const noStart = { ...telehealthAppointment(), start: undefined, end: undefined };
    const issue = issueAt(noStart, 'Appointment');
    expect(issue.code).toBe('invariant');
    expect(issue.diagnostics).toMatch(/app-3.*rule: /);
  });

  it('lists every problem, not just the first', () => {
    const resource = { ...telehealthAppointment(), status: 'in-progress', telehealth: {}, start: 'soon' };
    const expressions = issuesOf(resource).flatMap((i) => i.expression ?? []);
    expect(expressions).toEqual(expect.arrayContaining(['Appointment.status', 'Appointment.telehealth', 'Appointment.start']));
  });

  it('refuses values it cannot even walk without failing itself', () => {
    expect(issuesOf({ resourceType: 'Appointment', status: 'booked', participant: 'everyone' }).length).toBeGreaterThan(0);
    expect(issuesOf({ resourceType: 'Appointment', status: ['booked'], participant: [1, null] }).length).toBeGreaterThan(0);
  });
});

describe('extension and contained-resource invariants', () => {
  it('refuses an extension with both a value and nested extensions (ext-1)', () => {
    const appointment = telehealthAppointment();
    appointment.extension[0].valueString = 'p2p';
    const issue = issueAt(appointment, 'Appointment.extension[0]');
    expect(issue.code).toBe('invariant');
    expect(issue.diagnostics).toContain('ext-1');
  });

  it('refuses an extension with neither, also on a primitive value (ext-1)', () => {
    const issue = issueAt({ resourceType: 'Patient', _gender: { extension: [{ url: 'http://example.org/x' }] } }, 'Patient._gender.extension[0]');
    expect(issue.diagnostics).toContain('ext-1');
  });

  it('refuses contained resources that nest, carry a version or a security label (dom-2, dom-4, dom-5)', () => {
    const contained = {
      resourceType: 'Patient',
      id: 'p',
      meta: { versionId: '1', security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
      contained: [{ resourceType: 'Patient', id: 'q' }],
    };
    const appointment: Record<string, any> = { ...telehealthAppointment(), contained: [contained] };
    appointment.participant[0].actor = { reference: '#p' };
    const keys = issuesOf(appointment)
      .filter((i) => i.code === 'invariant')
      .map((i) => /Constraint (\S+)/.exec(i.diagnostics ?? '')?.[1]);
    expect(keys).toEqual(expect.arrayContaining(['dom-2', 'dom-4', 'dom-5']));
  });
});

describe('required bindings', () => {
  it('refuses Appointment.status in-progress, which is not an R4 code', () => {
    const issue = issueAt({ ...telehealthAppointment(), status: 'in-progress' }, 'Appointment.status');
    expect(issue.code).toBe('code-invalid');
    expect(issue.diagnostics).toContain('"in-progress"');
    expect(issue.diagnostics).toContain('noshow'); // the allowed codes are listed
  });

  it('refuses Encounter.status completed, an R5 code', () => {
    const issue = issueAt({ ...telehealthEncounter(), status: 'completed' }, 'Encounter.status');
    expect(issue.code).toBe('code-invalid');
  });

  it('checks codes inside backbone elements and nested datatypes, with the path of the bad element', () => {
    const appointment = telehealthAppointment();
    appointment.participant[1].status = 'maybe';
    expect(issueAt(appointment, 'Appointment.participant[1].status').code).toBe('code-invalid');

    const patient = {
      resourceType: 'Patient',
      text: { status: 'written', div: '<div xmlns="http://www.w3.org/1999/xhtml">John</div>' },
      identifier: [{ use: 'primary', value: '1' }],
      name: [{ use: 'nick', family: 'Doe' }],
      telecom: [{ system: 'mail', value: 'john@example.org' }],
      address: [{ use: 'holiday', city: 'Ghent' }],
      gender: 'man',
    };
    const expected = ['Patient.text.status', 'Patient.identifier[0].use', 'Patient.name[0].use', 'Patient.telecom[0].system', 'Patient.address[0].use', 'Patient.gender'];
    const issues = issuesOf(patient);
    for (const expression of expected) {
      expect(issues.find((i) => i.expression?.[0] === expression)?.code, expression).toBe('code-invalid');
    }
  });

  it('checks codes in choice types, extensions and contained resources', () => {
    const observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'weight' },
      valueQuantity: { value: 80, comparator: '~' },
    };
    expect(issueAt(observation, 'Observation.valueQuantity.comparator').code).toBe('code-invalid');

    const appointment = telehealthAppointment();
    appointment.extension.push({ url: 'http://example.org/fhir/StructureDefinition/source', valueIdentifier: { use: 'main', value: '1' } });
    expect(issueAt(appointment, 'Appointment.extension[1].valueIdentifier.use').code).toBe('code-invalid');

    const withContained: Record<string, any> = { ...telehealthAppointment(), contained: [{ resourceType: 'Patient', id: 'p', gender: 'x' }] };
    withContained.participant[0].actor = { reference: '#p' };
    expect(issueAt(withContained, 'Appointment.contained[0].gender').code).toBe('code-invalid');
  });

  it('needs a coding from the value set on a required CodeableConcept', () => {
    const condition = (clinicalStatus: unknown) => ({ resourceType: 'Condition', subject: { reference: 'Patient/1' }, clinicalStatus });
    const system = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
    expect(() => validateResource(condition({ coding: [{ system, code: 'active' }] }))).not.toThrow();
    expect(issueAt(condition({ coding: [{ system: 'http://example.org', code: 'active' }] }), 'Condition.clinicalStatus').code).toBe('code-invalid');
    expect(issueAt(condition({ text: 'active' }), 'Condition.clinicalStatus').code).toBe('code-invalid');
  });

  it('does not refuse codes of value sets it cannot expand offline', () => {
    const patient = {
      resourceType: 'Patient',
      photo: [{ contentType: 'image/x-made-up-format', url: 'https://example.org/photo' }], // urn:ietf:bcp:13
    };
    expect(() => validateResource(patient)).not.toThrow();
  });
});

const OFFICIAL_TYPES = [
  'Patient', 'Practitioner', 'PractitionerRole', 'Organization', 'Location',
  'Appointment', 'AppointmentResponse', 'Encounter', 'Schedule', 'Slot',
];

describe('official R4 examples (hl7.fhir.r4.examples)', () => {
  const examples = officialExamples(OFFICIAL_TYPES);

  it('covers every resource type the product stores', () => {
    expect(new Set(examples.map(([, r]) => r.resourceType))).toEqual(new Set(OFFICIAL_TYPES));
  });

  it.each(examples)('%s is valid', (_file, resource) => {
    expect(() => validateResource(resource)).not.toThrow();
  });
});

describe.skipIf(!existsSync(SYNTHEA_DIR))('Synthea US Core data (10 patients)', () => {
  it('accepts every resource', () => {
    const refused: string[] = [];
    for (const resource of syntheaResources()) {
      try {
        validateResource(resource);
      } catch (err) {
        refused.push(`${resource.resourceType}/${resource.id}: ${JSON.stringify((err as OperationOutcomeError).outcome?.issue)}`);
      }
    }
    expect(refused).toEqual([]);
  });
});
