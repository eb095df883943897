import { Alert, AppShell, Burger, Button, Group, Menu, NavLink, Stack, Text, Title, UnstyledButton } from '@mantine/core';
import { useDisclosure, useMediaQuery } from '@mantine/hooks';
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { Link, matchPath, useRouter } from '../../router.js';
import { useSession, useSignedIn } from '../../session.js';
import { NotFoundPage } from '../NotFoundPage.js';
import { AppointmentDrawer } from './AppointmentDrawer.js';
import { BookAppointmentModal } from './BookAppointmentModal.js';
import { InstantMeetingButton } from './InstantMeetingButton.js';
import { RegisterPatientModal } from './RegisterPatientModal.js';
import { HostVisitPage } from './HostVisitPage.js';
import { SummaryPage } from './SummaryPage.js';
import { TodayPage } from './TodayPage.js';
import { WeekPage } from './WeekPage.js';

interface WorkspaceValue {
  practitioner: string;
  /** Bumped after every change so the schedule and meeting lists reload. */
  version: number;
  changed(): void;
  openAppointment(id: string): void;
  bookAppointment(): void;
}

const WorkspaceContext = createContext<WorkspaceValue | undefined>(undefined);

export function useWorkspace(): WorkspaceValue {
  const value = useContext(WorkspaceContext);
  if (!value) throw new Error('useWorkspace outside PractitionerApp');
  return value;
}

export function PractitionerApp() {
  const session = useSignedIn();
  const { path } = useRouter();
  const practitioner = session.user.fhirUser?.startsWith('Practitioner/') ? session.user.fhirUser : undefined;

  if (!practitioner) {
    return (
      <Stack p="xl" maw={640} mx="auto" component="main">
        <Title order={1}>This app is for clinicians</Title>
        <Alert color="yellow" title="Your account is not linked to a practitioner">
          {session.user.role === 'patient'
            ? 'Patients join their visit from the link the clinic sends them.'
            : 'Ask your clinic administrator to link your account to a Practitioner record.'}
        </Alert>
        <SignOutButton />
      </Stack>
    );
  }

  const visit = matchPath('/app/visit/:meetingId', path);
  if (visit) return <HostVisitPage meetingId={visit.meetingId} />;
  return <Workspace practitioner={practitioner} />;
}

function Workspace({ practitioner }: { practitioner: string }) {
  const { path } = useRouter();
  const session = useSignedIn();
  const [navOpen, nav] = useDisclosure(false);
  // On phones the closed menu slides off screen; `inert` keeps it out of the tab order and the accessibility tree.
  const wide = useMediaQuery('(min-width: 48em)', true);
  const navHidden = !wide && !navOpen;
  const [version, setVersion] = useState(0);
  const [drawerId, setDrawerId] = useState<string>();
  const [booking, setBooking] = useState(false);
  const [registering, setRegistering] = useState(false);

  const changed = useCallback(() => setVersion((v) => v + 1), []);
  const value = useMemo<WorkspaceValue>(
    () => ({ practitioner, version, changed, openAppointment: setDrawerId, bookAppointment: () => setBooking(true) }),
    [practitioner, version, changed],
  );

  let page: ReactNode;
  const summary = matchPath('/app/summary/:meetingId', path);
  if (path === '/app' || path === '/app/') page = <TodayPage />;
  else if (path === '/app/week') page = <WeekPage />;
  else if (summary) page = <SummaryPage meetingId={summary.meetingId} />;
  else page = <NotFoundPage />;

  return (
    <WorkspaceContext.Provider value={value}>
      <a href="#main-content" className="skip-link">
        Skip to content
      </a>
      <AppShell header={{ height: 60 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !navOpen } }} padding="md">
        <AppShell.Header>
          <Group h="100%" px="md" justify="space-between" wrap="nowrap">
            <Group gap="sm" wrap="nowrap">
              <Burger opened={navOpen} onClick={nav.toggle} hiddenFrom="sm" size="sm" aria-label="Toggle navigation" />
              <Text fw={700} size="lg" component={Link} to="/app" c="inherit" td="none">
                {session.organization.name ?? 'Telehealth'}
              </Text>
            </Group>
            <Group gap="xs" wrap="nowrap">
              <Button variant="default" onClick={() => setRegistering(true)} visibleFrom="sm">
                Register patient
              </Button>
              <Button variant="default" onClick={() => setBooking(true)} visibleFrom="sm">
                Book appointment
              </Button>
              <InstantMeetingButton variant="instant" visibleFrom="sm" />
              <UserMenu />
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="sm" aria-label="Main" inert={navHidden}>
          <NavLink component={Link} to="/app" label="Today" active={path === '/app' || path === '/app/'} onClick={nav.close} />
          <NavLink component={Link} to="/app/week" label="Week" active={path === '/app/week'} onClick={nav.close} />
          <Stack gap="xs" mt="md" hiddenFrom="sm">
            <InstantMeetingButton variant="instant" />
            <Button variant="default" onClick={() => setRegistering(true)}>
              Register patient
            </Button>
            <Button variant="default" onClick={() => setBooking(true)}>
              Book appointment
            </Button>
          </Stack>
        </AppShell.Navbar>
        <AppShell.Main id="main-content">{page}</AppShell.Main>
      </AppShell>
      <AppointmentDrawer appointmentId={drawerId} onClose={() => setDrawerId(undefined)} />
      <BookAppointmentModal
        opened={booking}
        onClose={() => setBooking(false)}
        onBooked={(id) => {
          setBooking(false);
          changed();
          setDrawerId(id);
        }}
      />
      <RegisterPatientModal opened={registering} onClose={() => setRegistering(false)} onRegistered={() => changed()} />
    </WorkspaceContext.Provider>
  );
}

function UserMenu() {
  const session = useSignedIn();
  const { signOut } = useSession();
  return (
    <Menu position="bottom-end" withinPortal>
      <Menu.Target>
        <Button variant="subtle" aria-label={`Account: ${session.user.displayName}`} px="xs">
          <Text size="sm" truncate maw={{ base: 90, sm: 180 }}>
            {session.user.displayName}
          </Text>
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>{session.user.email}</Menu.Label>
        <Menu.Item onClick={() => void signOut()}>Sign out</Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}

function SignOutButton() {
  const { signOut } = useSession();
  return (
    <UnstyledButton onClick={() => void signOut()} c="blue.8" td="underline">
      Sign out
    </UnstyledButton>
  );
}
