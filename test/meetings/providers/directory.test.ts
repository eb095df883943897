import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VideoProviderDirectory } from '../../../src/meetings/integrations.js';
import { createTestDatabase, testDatabaseKinds } from '../../support/db.js';

const sealer = { seal: (s: string) => `sealed:${s}`, open: (s: string) => s.replace(/^sealed:/, '') };
const hms = { provider: '100ms' as const, accessKey: 'ak', appSecret: 'app-secret-0123456789', templateId: 'tpl', webhookSecret: 'wh-secret-0123456789' };

describe.each(testDatabaseKinds())('video provider directory on %s', (kind) => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase(kind);
  });
  afterAll(() => database.close());

  it('reuses an org’s provider, and a change saved on this server applies at once', async () => {
    const directory = new VideoProviderDirectory({ db: database.db, sealer, p2p: { signingKey: 'p2p-signing-key-0123456789abcdef0123' } });
    const first = await directory.providerForOrg('org-dir');
    expect(first.name).toBe('p2p');
    expect(await directory.providerForOrg('org-dir')).toBe(first);
    // Another org without settings gets the same built-in provider.
    expect(await directory.providerForOrg('org-other')).toBe(first);

    await directory.save('org-dir', hms, 'admin-1', new Date());
    const switched = await directory.providerForOrg('org-dir');
    expect(switched.name).toBe('100ms');
    // Meetings created on p2p before the switch still reach it.
    expect(await directory.providerFor('org-dir', 'p2p')).toBe(first);
  });
});
