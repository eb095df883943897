import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptSecret, encryptSecret, loadEncryptionKey, parseEncryptionKey } from '../../src/auth/crypto.js';
import { hashSecret, verifySecret } from '../../src/auth/passwords.js';

describe('secrets at rest', () => {
  it('encrypts with AES-256-GCM and refuses altered text or another key', () => {
    const key = parseEncryptionKey('11'.repeat(32));
    const sealed = encryptSecret('hms-app-secret', key);
    expect(sealed).not.toContain('hms-app-secret');
    expect(decryptSecret(sealed, key)).toBe('hms-app-secret');
    expect(encryptSecret('hms-app-secret', key)).not.toBe(sealed);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => decryptSecret(parts.join('.'), key)).toThrow();
    expect(() => decryptSecret(sealed, parseEncryptionKey('22'.repeat(32)))).toThrow();
  });

  it('generates the embedded key once under DATA_DIR and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'enc-'));
    const first = loadEncryptionKey(undefined, dir);
    const second = loadEncryptionKey(undefined, dir);
    expect(first.equals(second)).toBe(true);
    expect(statSync(join(dir, 'encryption.key')).mode & 0o077).toBe(0);
    expect(readFileSync(join(dir, 'encryption.key'), 'utf8')).toMatch(/^[0-9a-f]{64}$/);
    expect(() => parseEncryptionKey('short')).toThrow(/32 bytes/);
  });

  it('hashes passwords with scrypt and verifies them', async () => {
    const hash = await hashSecret('correct horse');
    expect(hash).toMatch(/^scrypt\$/);
    expect(await verifySecret('correct horse', hash)).toBe(true);
    expect(await verifySecret('wrong horse', hash)).toBe(false);
  });
});
