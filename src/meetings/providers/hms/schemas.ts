import { z } from 'zod';

/**
 * What 100ms sends back, as documented in its REST API reference. Every answer is parsed before use, so a
 * changed or broken answer fails here, loudly, instead of as `undefined` somewhere in the workflow.
 */

/** 100ms: "Accepted characters are a-z, A-Z, 0-9, and . - : _". Names are case-insensitive there. */
export const HMS_ROOM_NAME = /^[A-Za-z0-9.\-:_]+$/;

/** `POST /v2/rooms` answer (the room object). Unknown fields are kept for the meeting's stored details. */
export const hmsRoomSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  enabled: z.boolean().optional(),
  description: z.string().optional(),
  customer_id: z.string().optional(),
  app_id: z.string().optional(),
  template_id: z.string().optional(),
  template: z.string().optional(),
  region: z.string().optional(),
  created_at: z.string().optional(),
  updated_at: z.string().optional(),
});
export type HmsRoom = z.infer<typeof hmsRoomSchema>;

/** `POST /v2/active-rooms/{room_id}/end-room` answer: `{ "message": "session is ending" }`. */
export const hmsEndRoomSchema = z.object({ message: z.string() });

/** Error body of 4xx answers: `{ "code": 401, "message": "Token validation error", "details": ["not found"] }`. */
export const hmsErrorSchema = z.object({
  code: z.union([z.number(), z.string()]).optional(),
  message: z.string().optional(),
  details: z.unknown().optional(),
});

/** The webhook envelope; `data` differs per event type, so only the fields we map are named. */
export const hmsWebhookSchema = z.object({
  version: z.string().optional(),
  id: z.string().min(1),
  app_id: z.string().optional(),
  account_id: z.string().optional(),
  template_id: z.string().optional(),
  timestamp: z.string().min(1),
  type: z.string().min(1),
  data: z.looseObject({
    room_id: z.string().optional(),
    session_id: z.string().optional(),
    peer_id: z.string().optional(),
    user_id: z.string().optional(),
    role: z.string().optional(),
    joined_at: z.string().optional(),
    left_at: z.string().optional(),
    session_stopped_at: z.string().optional(),
    duration: z.number().optional(),
    reason: z.string().optional(),
    message: z.string().optional(),
  }),
});
export type HmsWebhook = z.infer<typeof hmsWebhookSchema>;
