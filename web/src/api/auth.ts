import type { HttpClient } from './http.js';
import { pickNumber, pickString, record } from './parse.js';

export type UserRole = 'admin' | 'practitioner' | 'patient';

export interface SessionUser {
  id: string;
  email?: string;
  role?: UserRole;
  displayName: string;
  /** FHIR reference of the person, e.g. `Practitioner/123`. */
  fhirUser?: string;
}

export interface Session {
  user: SessionUser;
  organization: { id?: string; name?: string };
  /** IANA time zone the clinic works in; schedules are shown in it. */
  timeZone: string;
}

export interface AccessToken {
  token: string;
  expiresIn?: number;
}

export function parseAccessToken(data: unknown): AccessToken | undefined {
  const body = record(data);
  const token = pickString(body, 'access_token', 'accessToken', 'token');
  return token ? { token, expiresIn: pickNumber(body, 'expires_in', 'expiresIn') } : undefined;
}

export function parseSession(data: unknown, fallbackTimeZone: string): Session {
  const body = record(data);
  const user = record(body.user ?? body);
  const org = record(body.organization ?? body.org);
  const role = pickString(user, 'role');
  const email = pickString(user, 'email');
  return {
    user: {
      id: pickString(user, 'id', 'sub', 'userId') ?? '',
      email,
      role: role === 'admin' || role === 'practitioner' || role === 'patient' ? role : undefined,
      displayName: pickString(user, 'displayName', 'display_name', 'name') ?? email ?? 'Signed in',
      fhirUser: pickString(user, 'fhirUser', 'fhir_user') ?? pickString(body, 'fhirUser', 'fhir_user'),
    },
    organization: { id: pickString(org, 'id') ?? pickString(body, 'orgId', 'org_id'), name: pickString(org, 'name') },
    timeZone: pickString(org, 'timeZone', 'time_zone', 'timezone') ?? pickString(body, 'timeZone') ?? fallbackTimeZone,
  };
}

export function createAuthApi(http: HttpClient) {
  return {
    async login(email: string, password: string): Promise<void> {
      const data = await http.request<unknown>('POST', '/auth/login', { body: { email, password }, auth: false });
      const token = parseAccessToken(data);
      if (!token) throw new Error('The sign-in answer had no access token.');
      http.setAccessToken(token.token);
    },
    async me(fallbackTimeZone: string): Promise<Session> {
      return parseSession(await http.request<unknown>('GET', '/auth/me'), fallbackTimeZone);
    },
    async logout(): Promise<void> {
      try {
        await http.request('POST', '/auth/logout', { auth: 'optional', body: {} });
      } finally {
        http.setAccessToken(undefined);
      }
    },
  };
}

/** Used by the HTTP client when a request meets a 401 or starts without a token. */
export async function refreshAccessToken(http: HttpClient): Promise<string | undefined> {
  try {
    const data = await http.request<unknown>('POST', '/auth/refresh', { auth: false, body: {} });
    return parseAccessToken(data)?.token;
  } catch {
    return undefined;
  }
}

export type AuthApi = ReturnType<typeof createAuthApi>;
