import { Alert, Button, Group, Modal, Select, SimpleGrid, Stack, TextInput } from '@mantine/core';
import { DateInput } from '@mantine/dates';
import { useMediaQuery } from '@mantine/hooks';
import type { Patient } from '@medplum/fhirtypes';
import { useEffect, useState, type FormEvent } from 'react';
import { dayjs } from '../../lib/time.js';
import { useApi } from '../../session.js';

interface Props {
  opened: boolean;
  onClose(): void;
  onRegistered(patient: Patient): void;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function RegisterPatientModal({ opened, onClose, onRegistered }: Props) {
  const api = useApi();
  const narrow = useMediaQuery('(max-width: 36em)');
  const [given, setGiven] = useState('');
  const [family, setFamily] = useState('');
  const [birthDate, setBirthDate] = useState<string | null>(null);
  const [gender, setGender] = useState<string | null>(null);
  const [email, setEmail] = useState('');
  const [phone, setPhone] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const [touched, setTouched] = useState(false);

  useEffect(() => {
    if (!opened) return;
    setGiven('');
    setFamily('');
    setBirthDate(null);
    setGender(null);
    setEmail('');
    setPhone('');
    setError(undefined);
    setDone(undefined);
    setTouched(false);
  }, [opened]);

  const invalid = {
    given: !given.trim() ? 'Enter the given name' : undefined,
    family: !family.trim() ? 'Enter the family name' : undefined,
    birthDate: !birthDate ? 'Enter the date of birth' : undefined,
    email: email && !EMAIL.test(email) ? 'This does not look like an email address' : undefined,
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (Object.values(invalid).some(Boolean)) return;
    setBusy(true);
    setError(undefined);
    try {
      const patient = await api.fhir.createPatient({
        given,
        family,
        birthDate: birthDate!,
        gender: (gender as Patient['gender']) ?? undefined,
        email: email.trim() || undefined,
        phone: phone.trim() || undefined,
      });
      setDone(`${given.trim()} ${family.trim()} is registered.`);
      onRegistered(patient);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal opened={opened} onClose={onClose} title="Register patient" size="lg" fullScreen={narrow}>
      <form onSubmit={submit} noValidate>
        <Stack>
          {error && (
            <Alert color="red" role="alert" title="Not registered">
              {error}
            </Alert>
          )}
          {done && (
            <Alert color="green" role="status">
              {done}
            </Alert>
          )}
          <SimpleGrid cols={{ base: 1, xs: 2 }}>
            <TextInput label="Given name" required value={given} onChange={(e) => setGiven(e.currentTarget.value)} error={touched && invalid.given} data-autofocus autoComplete="off" />
            <TextInput label="Family name" required value={family} onChange={(e) => setFamily(e.currentTarget.value)} error={touched && invalid.family} autoComplete="off" />
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, xs: 2 }}>
            <DateInput
              label="Date of birth"
              required
              value={birthDate}
              onChange={setBirthDate}
              valueFormat="YYYY-MM-DD"
              placeholder="YYYY-MM-DD"
              maxDate={dayjs().format('YYYY-MM-DD')}
              defaultLevel="decade"
              error={touched && invalid.birthDate}
              popoverProps={{ withinPortal: true }}
            />
            <Select
              label="Gender"
              placeholder="Not stated"
              clearable
              data={[
                { value: 'female', label: 'Female' },
                { value: 'male', label: 'Male' },
                { value: 'other', label: 'Other' },
                { value: 'unknown', label: 'Unknown' },
              ]}
              value={gender}
              onChange={setGender}
              comboboxProps={{ withinPortal: true }}
            />
          </SimpleGrid>
          <SimpleGrid cols={{ base: 1, xs: 2 }}>
            <TextInput label="Email (for visit links)" type="email" value={email} onChange={(e) => setEmail(e.currentTarget.value)} error={touched && invalid.email} autoComplete="off" />
            <TextInput label="Mobile phone" type="tel" value={phone} onChange={(e) => setPhone(e.currentTarget.value)} autoComplete="off" />
          </SimpleGrid>
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose} type="button">
              {done ? 'Close' : 'Cancel'}
            </Button>
            <Button type="submit" loading={busy} disabled={Boolean(done)}>
              Register
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
