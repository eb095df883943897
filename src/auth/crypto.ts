import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * AES-256-GCM for secrets kept at rest (video-provider credentials of an organization). The format
 * `v1.<iv>.<tag>.<ciphertext>` (base64url) leaves room for a key rotation later.
 */
export type EncryptionKey = Buffer & { readonly __encryptionKey: true };

export function parseEncryptionKey(text: string): EncryptionKey {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new Error('ENCRYPTION_KEY must be 32 bytes, as 64 hex digits or base64');
  return key as EncryptionKey;
}

/**
 * The key from ENCRYPTION_KEY, or for the embedded single-server install one generated at the first start and
 * kept in DATA_DIR (readable by the server's user only).
 */
export function loadEncryptionKey(configured: string | undefined, dataDir: string): EncryptionKey {
  if (configured) return parseEncryptionKey(configured);
  const file = join(dataDir, 'encryption.key');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    try {
      // 'wx' fails if another process created it meanwhile; then that one's key is used.
      writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return parseEncryptionKey(readFileSync(file, 'utf8'));
}

export function encryptSecret(plaintext: string, key: EncryptionKey): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
}

/** Throws when the text was not encrypted with this key or was altered. */
export function decryptSecret(encrypted: string, key: EncryptionKey): string {
  const [version, iv, tag, data] = encrypted.split('.');
  if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('Not an encrypted secret');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
}
