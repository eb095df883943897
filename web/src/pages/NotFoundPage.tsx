import { Button, Center, Stack, Text, Title } from '@mantine/core';
import { Link } from '../router.js';

export function NotFoundPage() {
  return (
    <Center mih="100dvh" p="md">
      <Stack align="center" gap="sm" component="main">
        <Title order={1}>Page not found</Title>
        <Text c="dimmed">This address does not lead anywhere. If you were given a visit link, check that it was copied whole.</Text>
        <Button component={Link} to="/app">
          Go to the clinic app
        </Button>
      </Stack>
    </Center>
  );
}
