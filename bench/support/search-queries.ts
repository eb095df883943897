/**
 * The three selective searches of the search benchmark, each as a FHIR search and as the same question
 * written by hand in SQL over the same tables (the baseline). Both ask for one page of 20 (21 rows fetched,
 * as search does to know if there is a next page). The GIN index on refs is partial (rows with references), so the
 * SQL states its predicate as anyone writing it by hand against this schema would.
 */
export type SearchCaseName = 'appointments of a practitioner on a day' | 'patients by name' | 'encounters of a patient';

export interface SearchCase {
  name: SearchCaseName;
  /** FHIR search: type and query, as the HTTP layer hands them to search */
  type: string;
  query: Record<string, string>;
  /** the same question in SQL */
  sql: string;
  params: unknown[];
  /** path of the same question on the HTTP baseline server */
  baselinePath: string;
}

export function appointmentsOfPractitionerOnDay(orgId: string, practitionerId: string, day: string): SearchCase {
  const start = new Date(`${day}T00:00:00Z`);
  const end = new Date(start.getTime() + 86_400_000);
  return {
    name: 'appointments of a practitioner on a day',
    type: 'Appointment',
    query: { practitioner: `Practitioner/${practitionerId}`, date: day, _sort: 'date' },
    sql: `SELECT r.id, r.resource_data FROM fhir_resources r
          JOIN fhir_search_date d ON d.resource_type = r.resource_type AND d.id = r.id AND d.param = 'date'
          WHERE r.org_id = $1 AND r.resource_type = 'Appointment' AND NOT r.deleted AND r.ref_hashes <> '{}'::bigint[] AND r.ref_hashes @> fhir_key_hashes(ARRAY[$2]) AND r.refs @> ARRAY[$2]
            AND d.low >= $3 AND d.low < $4
          ORDER BY d.low, r.id LIMIT 21`,
    params: [orgId, `practitioner|Practitioner/${practitionerId}`, start.toISOString(), end.toISOString()],
    baselinePath: `/appointments?practitioner=${encodeURIComponent(practitionerId)}&day=${day}`,
  };
}

export function patientsByName(orgId: string, name: string): SearchCase {
  return {
    name: 'patients by name',
    type: 'Patient',
    query: { name },
    sql: `SELECT r.id, r.resource_data FROM fhir_resources r
          WHERE r.org_id = $1 AND r.resource_type = 'Patient' AND NOT r.deleted
            AND r.id IN (SELECT s.id FROM fhir_search_string s
                         WHERE s.resource_type = 'Patient' AND s.param IN ('name', 'family', 'given') AND s.value LIKE $2)
          ORDER BY r.id LIMIT 21`,
    params: [orgId, `${name.toLowerCase()}%`],
    baselinePath: `/patients?name=${encodeURIComponent(name)}`,
  };
}

export function encountersOfPatient(orgId: string, patientId: string): SearchCase {
  return {
    name: 'encounters of a patient',
    type: 'Encounter',
    query: { patient: `Patient/${patientId}`, _sort: '-date' },
    sql: `SELECT r.id, r.resource_data FROM fhir_resources r
          JOIN fhir_search_date d ON d.resource_type = r.resource_type AND d.id = r.id AND d.param = 'date'
          WHERE r.org_id = $1 AND r.resource_type = 'Encounter' AND NOT r.deleted AND r.ref_hashes <> '{}'::bigint[] AND r.ref_hashes @> fhir_key_hashes(ARRAY[$2]) AND r.refs @> ARRAY[$2]
          ORDER BY d.low DESC, r.id LIMIT 21`,
    params: [orgId, `patient|Patient/${patientId}`],
    baselinePath: `/encounters?patient=${encodeURIComponent(patientId)}`,
  };
}
