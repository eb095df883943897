import type { FastifyInstance } from 'fastify';
import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import { ASSERTION_ALGORITHMS } from '../client-assertion.js';
import type { AuthService } from '../service.js';

/** The SMART configuration (SMART App Launch 2.x, "Conformance"): what a client needs to get a token here. */
export function smartConfiguration(auth: AuthService) {
  return {
    issuer: auth.issuer,
    jwks_uri: `${auth.issuer}/.well-known/jwks.json`,
    token_endpoint: auth.tokenUrl,
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    grant_types_supported: ['client_credentials'],
    scopes_supported: ['system/*.cruds', 'system/*.rs', 'user/*.cruds', 'user/*.rs', 'patient/*.rs', 'openid', 'fhirUser'],
    response_types_supported: ['token'],
    capabilities: ['client-confidential-symmetric', 'client-confidential-asymmetric', 'permission-v1', 'permission-v2', 'permission-patient', 'permission-user'],
  };
}

/** The CapabilityStatement's rest.security: SMART-on-FHIR, with the OAuth endpoints as the oauth-uris extension. */
export function smartSecurity(auth: AuthService): CapabilityStatementRestSecurity {
  return {
    cors: auth.config.auth.corsOrigins.length > 0,
    service: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
        text: 'OAuth2 bearer tokens (SMART on FHIR v2 scopes)',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [{ url: 'token', valueUri: auth.tokenUrl }],
      },
    ],
  };
}

export function discoveryRoutes(app: FastifyInstance, auth: AuthService): void {
  const config = smartConfiguration(auth);
  const send = async () => config;
  app.get('/.well-known/smart-configuration', send);
  app.get('/fhir/.well-known/smart-configuration', send);
  app.get('/.well-known/jwks.json', async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(auth.tokens.jwks));
}
