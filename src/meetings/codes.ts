import { randomBytes } from 'node:crypto';

/**
 * Meeting codes are read aloud and typed from a phone screen: no 0/O, 1/I/L, and one case. 31 symbols and 10
 * characters give about 49 bits, which with the join rate limit makes guessing a live code hopeless.
 */
export const MEETING_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const MEETING_CODE_LENGTH = 10;

/** A fresh code from the cryptographic random source, without modulo bias (rejection sampling). */
export function generateMeetingCode(length = MEETING_CODE_LENGTH): string {
  const n = MEETING_CODE_ALPHABET.length;
  const limit = 256 - (256 % n);
  let code = '';
  while (code.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= limit) continue;
      code += MEETING_CODE_ALPHABET[byte % n];
      if (code.length === length) break;
    }
  }
  return code;
}

/** What people type: any case, with spaces or dashes; undefined when it cannot be a code at all. */
export function normalizeMeetingCode(input: string): string | undefined {
  const code = input.replace(/[\s-]/g, '').toUpperCase();
  if (code.length < 8 || code.length > 32) return undefined;
  for (const ch of code) if (!MEETING_CODE_ALPHABET.includes(ch)) return undefined;
  return code;
}
