import type { ParticipantRole, VideoProviderName } from './providers/types.js';

export type MeetingStatus = 'scheduled' | 'active' | 'ended' | 'cancelled';
export type UserType = 'practitioner' | 'patient' | 'guest';
export type TriggerType = 'user' | 'system' | 'provider';

export type MeetingEventType =
  | 'meeting_created'
  | 'participant_joined'
  | 'participant_left'
  | 'meeting_started'
  | 'encounter_created'
  | 'appointment_status_changed'
  | 'meeting_ended'
  | 'encounter_finished'
  | 'provider_webhook'
  | 'provider_error'
  | 'provider_room_ended'
  | 'link_shared'
  | 'meeting_cancelled';

/** A virtual meeting as the staff API shows it. */
export interface Meeting {
  id: string;
  orgId: string;
  appointmentId?: string;
  encounterId?: string;
  hostPractitionerId: string;
  hostDisplayName?: string;
  patientId?: string;
  provider: VideoProviderName;
  /** The provider's id of the room. */
  providerRoomId: string;
  meetingCode: string;
  roomUrl?: string;
  publicLink: string;
  status: MeetingStatus;
  scheduledStart?: string;
  scheduledEnd?: string;
  startedAt?: string;
  endedAt?: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** What anyone holding the code may see: enough for a join page, nothing about the patient. */
export interface PublicMeetingView {
  meetingId: string;
  code: string;
  status: MeetingStatus;
  provider: VideoProviderName;
  scheduledStart?: string;
  scheduledEnd?: string;
  practitionerName?: string;
  organizationName?: string;
}

export interface Participant {
  id: string;
  meetingId: string;
  userId?: string;
  userType: UserType;
  displayName: string;
  role: ParticipantRole;
  providerPeerId?: string;
  joinedAt: string;
  leftAt?: string;
  durationSeconds?: number;
}

export interface MeetingEvent {
  seq: number;
  eventType: MeetingEventType;
  eventData: Record<string, unknown>;
  triggeredBy?: string;
  triggeredByType: TriggerType;
  createdAt: string;
}

/** Who caused a change, for the event log. */
export interface Trigger {
  by?: string;
  type: TriggerType;
}
