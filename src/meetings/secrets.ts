import { decryptSecret, encryptSecret, loadEncryptionKey, type EncryptionKey } from '../auth/crypto.js';
import type { SecretSealer } from './integrations.js';

/**
 * The server's AES-256-GCM key (ENCRYPTION_KEY, or the one kept in DATA_DIR) as a sealer for the video
 * secrets of organizations. The key is loaded on first use, so servers that never store a secret never
 * create a key file.
 */
export function encryptionKeySealer(configured: string | undefined, dataDir: string): SecretSealer {
  let key: EncryptionKey | undefined;
  const get = () => (key ??= loadEncryptionKey(configured, dataDir));
  return {
    seal: (plaintext) => encryptSecret(plaintext, get()),
    open: (sealed) => decryptSecret(sealed, get()),
  };
}
