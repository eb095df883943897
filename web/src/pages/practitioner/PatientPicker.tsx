import { Select } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import type { Patient } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import { patientDisplayName } from '../../api/fhir.js';
import { useApi } from '../../session.js';

interface Props {
  value: Patient | undefined;
  onChange(patient: Patient | undefined): void;
  error?: string;
}

/** Searchable list of the clinic's patients (name search on the FHIR server). */
export function PatientPicker({ value, onChange, error }: Props) {
  const api = useApi();
  const [search, setSearch] = useState('');
  const [debounced] = useDebouncedValue(search, 250);
  const [patients, setPatients] = useState<Patient[]>([]);
  const [loading, setLoading] = useState(false);
  const [loadError, setLoadError] = useState<string>();

  useEffect(() => {
    // Typing the chosen name back into the box must not start a new search.
    if (value && debounced === patientDisplayName(value)) return;
    const controller = new AbortController();
    setLoading(true);
    api.fhir
      .searchPatients(debounced)
      .then((list) => {
        if (!controller.signal.aborted) {
          setPatients(list);
          setLoadError(undefined);
        }
      })
      .catch((err: Error) => !controller.signal.aborted && setLoadError(err.message))
      .finally(() => !controller.signal.aborted && setLoading(false));
    return () => controller.abort();
  }, [api, debounced, value]);

  const options = new Map(patients.map((p) => [p.id!, p]));
  if (value?.id) options.set(value.id, value);
  const data = [...options.values()].map((p) => ({
    value: p.id!,
    label: `${patientDisplayName(p)}${p.birthDate ? ` · born ${p.birthDate}` : ''}`,
  }));

  return (
    <Select
      label="Patient"
      placeholder="Search by name"
      searchable
      required
      data={data}
      value={value?.id ?? null}
      onChange={(id) => onChange(id ? options.get(id) : undefined)}
      searchValue={search}
      onSearchChange={setSearch}
      nothingFoundMessage={loading ? 'Searching…' : 'No patient found. Register the patient first.'}
      error={error ?? loadError}
      filter={({ options: opts }) => opts}
      comboboxProps={{ withinPortal: true }}
    />
  );
}
