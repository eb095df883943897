/**
 * Who is calling, as established by the authentication layer from a verified access token. Every API and FHIR
 * handler takes the org from here — never from a request body or URL.
 */
export interface Principal {
  orgId: string;
  /** 'user' for people who signed in, 'client' for OAuth clients (client_credentials / backend services). */
  kind: 'user' | 'client';
  /** user id or OAuth client id */
  subject: string;
  /** For users: admin, practitioner or patient. Clients have none. */
  role?: 'admin' | 'practitioner' | 'patient';
  /** FHIR resource the user is, e.g. "Practitioner/123" or "Patient/456" (SMART fhirUser). */
  fhirUser?: string;
  /** Display name for audit trails and meeting participants (not health data). */
  displayName?: string;
  /** Granted SMART scopes, e.g. ["user/*.cruds", "patient/Appointment.rs"]. */
  scopes: string[];
  /** The token id (jti), for audit correlation. */
  tokenId?: string;
}
