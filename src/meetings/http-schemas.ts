/**
 * JSON Schemas of the meetings API, for request validation and the OpenAPI description. Response objects
 * list their properties so serialization never lets an unlisted field (a patient's data) slip out.
 */

const isoDateTime = { type: 'string', format: 'date-time' } as const;
const provider = { type: 'string', enum: ['p2p', '100ms'] } as const;
const status = { type: 'string', enum: ['scheduled', 'active', 'ended', 'cancelled'] } as const;

export const operationOutcome = {
  $id: 'OperationOutcome',
  type: 'object',
  description: 'Every error is a FHIR OperationOutcome',
  properties: {
    resourceType: { type: 'string', const: 'OperationOutcome' },
    issue: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          severity: { type: 'string' },
          code: { type: 'string' },
          diagnostics: { type: 'string' },
          expression: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
} as const;

const errors = {
  400: { $ref: 'OperationOutcome#' },
  401: { $ref: 'OperationOutcome#' },
  403: { $ref: 'OperationOutcome#' },
  404: { $ref: 'OperationOutcome#' },
} as const;

export const meeting = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    orgId: { type: 'string' },
    appointmentId: { type: 'string' },
    encounterId: { type: 'string' },
    hostPractitionerId: { type: 'string' },
    hostDisplayName: { type: 'string' },
    patientId: { type: 'string' },
    provider,
    providerRoomId: { type: 'string', description: "The provider's id of the room" },
    meetingCode: { type: 'string' },
    roomUrl: { type: 'string' },
    publicLink: { type: 'string' },
    status,
    scheduledStart: isoDateTime,
    scheduledEnd: isoDateTime,
    startedAt: isoDateTime,
    endedAt: isoDateTime,
    createdBy: { type: 'string' },
    createdAt: isoDateTime,
    updatedAt: isoDateTime,
  },
} as const;

export const publicMeeting = {
  type: 'object',
  description: 'What a join page needs; no patient data',
  properties: {
    meetingId: { type: 'string', format: 'uuid' },
    code: { type: 'string' },
    status,
    provider,
    scheduledStart: isoDateTime,
    scheduledEnd: isoDateTime,
    practitionerName: { type: 'string' },
    organizationName: { type: 'string' },
  },
} as const;

const credentials = {
  type: 'object',
  description: "The provider's join credentials (a short-lived token); never stored",
  additionalProperties: true,
  properties: { provider, token: { type: 'string' }, roomId: { type: 'string' }, expiresAt: isoDateTime },
} as const;

const joinAnswer = {
  type: 'object',
  properties: {
    meeting: publicMeeting,
    role: { type: 'string', enum: ['host', 'patient', 'guest'] },
    participantId: { type: 'string', format: 'uuid' },
    provider,
    credentials,
  },
} as const;

const participant = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    meetingId: { type: 'string' },
    userId: { type: 'string' },
    userType: { type: 'string' },
    displayName: { type: 'string' },
    role: { type: 'string' },
    providerPeerId: { type: 'string' },
    joinedAt: isoDateTime,
    leftAt: isoDateTime,
    durationSeconds: { type: 'integer' },
  },
} as const;

const event = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    eventType: { type: 'string' },
    eventData: { type: 'object', additionalProperties: true },
    triggeredBy: { type: 'string' },
    triggeredByType: { type: 'string', enum: ['user', 'system', 'provider'] },
    createdAt: isoDateTime,
  },
} as const;

const meetingIdParams = { type: 'object', required: ['meetingId'], properties: { meetingId: { type: 'string' } } } as const;
const codeParams = { type: 'object', required: ['code'], properties: { code: { type: 'string', maxLength: 64 } } } as const;
const participantBody = {
  type: 'object',
  required: ['participantId'],
  properties: { participantId: { type: 'string', format: 'uuid' } },
} as const;
const staff = [{ bearerAuth: [] }];

export const routeSchemas = {
  createForAppointment: {
    tags: ['virtual meetings'],
    summary: 'Create the meeting of an Appointment (idempotent: returns the open one)',
    security: staff,
    params: { type: 'object', required: ['appointmentId'], properties: { appointmentId: { type: 'string' } } },
    response: { 200: meeting, 201: meeting, ...errors, 409: { $ref: 'OperationOutcome#' }, 422: { $ref: 'OperationOutcome#' }, 502: { $ref: 'OperationOutcome#' } },
  },
  createInstant: {
    tags: ['virtual meetings'],
    summary: "An instant meeting hosted by the caller's Practitioner",
    security: staff,
    body: {
      type: 'object',
      properties: { patientId: { type: 'string', maxLength: 64 }, displayName: { type: 'string', maxLength: 200 } },
    },
    response: { 201: meeting, ...errors, 502: { $ref: 'OperationOutcome#' } },
  },
  list: {
    tags: ['virtual meetings'],
    summary: "The org's meetings, newest first (patients see their own)",
    security: staff,
    querystring: {
      type: 'object',
      properties: {
        status,
        from: isoDateTime,
        to: isoDateTime,
        count: { type: 'integer', minimum: 1, maximum: 100 },
        offset: { type: 'integer', minimum: 0 },
      },
    },
    response: {
      200: { type: 'object', properties: { meetings: { type: 'array', items: meeting }, next: { type: 'integer' } } },
      ...errors,
    },
  },
  get: { tags: ['virtual meetings'], summary: 'One meeting', security: staff, params: meetingIdParams, response: { 200: meeting, ...errors } },
  events: {
    tags: ['virtual meetings'],
    summary: "The meeting's audit trail, in order",
    security: staff,
    params: meetingIdParams,
    response: { 200: { type: 'object', properties: { events: { type: 'array', items: event } } }, ...errors },
  },
  participants: {
    tags: ['virtual meetings'],
    summary: 'Participant sessions, one per join',
    security: staff,
    params: meetingIdParams,
    response: { 200: { type: 'object', properties: { participants: { type: 'array', items: participant } } }, ...errors },
  },
  byCode: {
    tags: ['join'],
    summary: 'Public: what a join page shows. Rate limited',
    params: codeParams,
    response: { 200: publicMeeting, 404: { $ref: 'OperationOutcome#' }, 410: { $ref: 'OperationOutcome#' }, 429: { $ref: 'OperationOutcome#' } },
  },
  join: {
    tags: ['join'],
    summary: 'Public: join by code; the server decides the role. Rate limited',
    params: codeParams,
    body: {
      type: 'object',
      properties: {
        displayName: { type: 'string', maxLength: 200 },
        birthDate: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: "The meeting's patient, when not signed in" },
      },
    },
    response: {
      200: joinAnswer,
      403: { $ref: 'OperationOutcome#' },
      404: { $ref: 'OperationOutcome#' },
      410: { $ref: 'OperationOutcome#' },
      429: { $ref: 'OperationOutcome#' },
    },
  },
  token: {
    tags: ['join'],
    summary: 'Fresh credentials for someone already in the meeting (reconnect)',
    params: meetingIdParams,
    body: participantBody,
    response: {
      200: { type: 'object', properties: { role: joinAnswer.properties.role, participantId: { type: 'string' }, provider, credentials } },
      404: { $ref: 'OperationOutcome#' },
      410: { $ref: 'OperationOutcome#' },
    },
  },
  leave: {
    tags: ['join'],
    summary: "Close that participant's session",
    params: meetingIdParams,
    body: participantBody,
    response: { 200: participant, 404: { $ref: 'OperationOutcome#' } },
  },
  end: {
    tags: ['virtual meetings'],
    summary: 'End the meeting (host or org admin); idempotent',
    security: staff,
    params: meetingIdParams,
    response: { 200: meeting, ...errors },
  },
  cancel: {
    tags: ['virtual meetings'],
    summary: 'Cancel a meeting that has not started (host or org admin); its Appointment is cancelled too; idempotent',
    security: staff,
    params: meetingIdParams,
    response: { 200: meeting, ...errors },
  },
  linkShared: {
    tags: ['virtual meetings'],
    summary: 'Record that the join link was sent to the patient (event link_shared)',
    security: staff,
    params: meetingIdParams,
    body: {
      type: 'object',
      properties: { channel: { type: 'string', maxLength: 40, description: 'how it was sent: copy, email, sms, …' } },
      additionalProperties: false,
    },
    response: { 200: { type: 'object', properties: { events: { type: 'array', items: event } } }, ...errors },
  },
  webhook: {
    tags: ['webhooks'],
    summary: "100ms webhooks; authenticated by the org's secret header (and HMAC when configured)",
    response: {
      200: { type: 'object', properties: { processed: { type: 'integer' }, duplicates: { type: 'integer' }, ignored: { type: 'integer' } } },
      401: { $ref: 'OperationOutcome#' },
    },
  },
  getIntegration: {
    tags: ['integrations'],
    summary: "The org's video provider settings (secrets are never returned)",
    security: staff,
    response: { 200: { $ref: 'VideoIntegration#' }, ...errors },
  },
  putIntegration: {
    tags: ['integrations'],
    summary: "Set the org's video provider (org admin)",
    security: staff,
    body: {
      type: 'object',
      required: ['provider'],
      properties: {
        provider,
        accessKey: { type: 'string' },
        appSecret: { type: 'string' },
        templateId: { type: 'string' },
        webhookSecret: { type: 'string', minLength: 16 },
        apiBaseUrl: { type: 'string', format: 'uri' },
      },
    },
    response: { 200: { $ref: 'VideoIntegration#' }, ...errors },
  },
};

export const videoIntegration = {
  $id: 'VideoIntegration',
  type: 'object',
  properties: {
    provider,
    source: { type: 'string', enum: ['organization', 'environment', 'default'] },
    accessKey: { type: 'string' },
    templateId: { type: 'string' },
    apiBaseUrl: { type: 'string' },
    secretsConfigured: { type: 'boolean' },
    updatedAt: isoDateTime,
  },
} as const;
