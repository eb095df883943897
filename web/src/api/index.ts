import { createAuthApi, refreshAccessToken } from './auth.js';
import { createFhirApi } from './fhir.js';
import { createHttpClient, type HttpClient, type HttpClientOptions } from './http.js';
import { createMeetingsApi } from './meetings.js';

/** Everything the UI may ask the server, in one typed object handed down through React context. */
export interface Api {
  http: HttpClient;
  auth: ReturnType<typeof createAuthApi>;
  fhir: ReturnType<typeof createFhirApi>;
  meetings: ReturnType<typeof createMeetingsApi>;
}

export function createApi(options: Omit<HttpClientOptions, 'refresh'> = {}): Api {
  const http = createHttpClient({ ...options, refresh: refreshAccessToken });
  return { http, auth: createAuthApi(http), fhir: createFhirApi(http), meetings: createMeetingsApi(http) };
}

export { ApiError } from './http.js';
