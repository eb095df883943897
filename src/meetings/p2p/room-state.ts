import type { ProviderEvent } from '../providers/types.js';
import { CloseCode, type PeerInfo, type ServerMessage, type SignalingRole } from './protocol.js';

/**
 * Who is in which meeting, as a pure state machine over an ordered log of membership entries. Every server
 * instance applies the same log in the same order (the bus guarantees it), so every instance holds the same
 * rooms and draws the same conclusions — who is admitted, who is in the lobby, who was the last to leave —
 * without asking the others. Each effect names the connection it concerns; only the instance holding that
 * connection acts on it, which is what makes each presence event come out exactly once.
 */

/** One connection of one participant. */
export interface Member {
  peerId: string;
  roomId: string;
  meetingId: string;
  participantId: string;
  userId: string;
  role: SignalingRole;
  displayName: string;
  tokenId: string;
  /** The server instance holding the socket. */
  instanceId: string;
}

export interface MemberState extends Member {
  /** In the call (true) or in the lobby (false). */
  admitted: boolean;
}

export type LogEntry =
  | { kind: 'join'; member: Member; at: string }
  | { kind: 'leave'; roomId: string; peerId: string; reason: string; at: string }
  | { kind: 'remove'; roomId: string; participantId: string; byPeerId: string; at: string }
  | { kind: 'admit'; roomId: string; participantId: string; byPeerId: string; at: string }
  | { kind: 'end'; roomId: string; reason: string; at: string }
  /** An instance stopped answering; `reporter` takes over the presence events of its connections. */
  | { kind: 'instance-gone'; instanceId: string; reporter: string; at: string };

/** ProviderEvent plus what the p2p provider knows beyond the vendor-neutral fields. */
export interface P2pProviderEvent extends ProviderEvent {
  provider: 'p2p';
  meetingId: string;
  participantId?: string;
  displayName?: string;
}

export type Effect =
  | { type: 'send'; to: Member; message: ServerMessage }
  | { type: 'close'; to: Member; code: number; reason: string }
  /** `owner` is the instance that reports the event. */
  | { type: 'presence'; owner: string; event: P2pProviderEvent };

export interface RegistrySnapshot {
  members: MemberState[];
  sessions: { roomId: string; sessionId: string }[];
  ended: { roomId: string; at: string; reason: string }[];
  denied: { roomId: string; keys: string[] }[];
}

interface Room {
  roomId: string;
  meetingId: string;
  members: Map<string, MemberState>;
  /** Set while anyone is admitted: the peerId of whoever opened the call, which names this session. */
  sessionId?: string;
}

/** Ended meetings are remembered this long; join tokens live minutes, so a day is ample. */
const ENDED_RETENTION_MS = 24 * 3_600_000;

export function peerInfo(m: Member): PeerInfo {
  return { peerId: m.peerId, participantId: m.participantId, role: m.role, displayName: m.displayName };
}

/**
 * `auto`: everyone waiting is let in as soon as a host is in the call, and later arrivals go straight in.
 * `host`: people wait until the host admits them one by one.
 */
export type AdmissionMode = 'auto' | 'host';

export class RoomRegistry {
  constructor(private readonly admission: AdmissionMode = 'auto') {}

  private readonly rooms = new Map<string, Room>();
  private readonly ended = new Map<string, { at: string; reason: string }>();
  /** Per room: removed participant ids and token ids. */
  private readonly denied = new Map<string, Set<string>>();

  member(peerId: string, roomId: string): MemberState | undefined {
    return this.rooms.get(roomId)?.members.get(peerId);
  }

  members(roomId: string): MemberState[] {
    return [...(this.rooms.get(roomId)?.members.values() ?? [])];
  }

  membersOf(instanceId: string): MemberState[] {
    const out: MemberState[] = [];
    for (const room of this.rooms.values()) for (const m of room.members.values()) if (m.instanceId === instanceId) out.push(m);
    return out;
  }

  endedReason(roomId: string): string | undefined {
    return this.ended.get(roomId)?.reason;
  }

  isDenied(roomId: string, participantId: string, tokenId: string): boolean {
    const keys = this.denied.get(roomId);
    return !!keys && (keys.has(participantId) || keys.has(tokenId));
  }

  apply(entry: LogEntry): Effect[] {
    switch (entry.kind) {
      case 'join':
        return this.join(entry.member, entry.at);
      case 'leave': {
        const room = this.rooms.get(entry.roomId);
        const m = room?.members.get(entry.peerId);
        return room && m ? this.drop(room, m, entry.reason, entry.at) : [];
      }
      case 'remove':
        return this.remove(entry.roomId, entry.participantId, entry.byPeerId, entry.at);
      case 'end':
        return this.end(entry.roomId, entry.reason, entry.at);
      case 'admit': {
        const room = this.rooms.get(entry.roomId);
        const by = room?.members.get(entry.byPeerId);
        if (!room || !by || by.role !== 'host' || !by.admitted) return [];
        const effects: Effect[] = [];
        for (const m of [...room.members.values()]) if (!m.admitted && m.participantId === entry.participantId) effects.push(...this.admit(room, m, entry.at));
        return effects.length > 0 ? [...effects, ...this.lobbyUpdate(room)] : [];
      }
      case 'instance-gone': {
        const effects: Effect[] = [];
        for (const m of this.membersOf(entry.instanceId)) {
          const room = this.rooms.get(m.roomId)!;
          effects.push({ type: 'close', to: m, code: CloseCode.RESET, reason: 'signaling server lost contact, reconnect' });
          effects.push(...this.drop(room, m, 'connection lost', entry.at, entry.reporter));
        }
        return effects;
      }
    }
  }

  private join(member: Member, at: string): Effect[] {
    const endedReason = this.endedReason(member.roomId);
    if (endedReason !== undefined) return [{ type: 'close', to: member, code: CloseCode.MEETING_ENDED, reason: `meeting ended: ${endedReason}` }];
    if (this.isDenied(member.roomId, member.participantId, member.tokenId)) {
      return [{ type: 'close', to: member, code: CloseCode.REMOVED, reason: 'removed from this meeting by the host' }];
    }
    let room = this.rooms.get(member.roomId);
    if (!room) {
      room = { roomId: member.roomId, meetingId: member.meetingId, members: new Map() };
      this.rooms.set(room.roomId, room);
    }
    const effects: Effect[] = [];
    // One live connection per participant: the newest wins (a reload or a reconnect after a network change).
    for (const other of [...room.members.values()]) {
      if (other.participantId !== member.participantId) continue;
      effects.push({ type: 'close', to: other, code: CloseCode.REPLACED, reason: 'connected again from elsewhere' });
      effects.push(...this.drop(room, other, 'replaced by a newer connection', at));
    }
    const hostPresent = [...room.members.values()].some((m) => m.admitted && m.role === 'host');
    const state: MemberState = { ...member, admitted: false };
    room.members.set(state.peerId, state);
    const auto = this.admission === 'auto';
    if (member.role === 'host' || (auto && hostPresent)) {
      effects.push(...this.admit(room, state, at));
      if (member.role === 'host' && auto) for (const waiting of [...room.members.values()].filter((m) => !m.admitted)) effects.push(...this.admit(room, waiting, at));
    } else {
      effects.push({ type: 'send', to: state, message: { type: 'waiting' } });
    }
    effects.push(...this.lobbyUpdate(room));
    return effects;
  }

  private admit(room: Room, m: MemberState, at: string): Effect[] {
    const others = [...room.members.values()].filter((o) => o.admitted && o.peerId !== m.peerId);
    room.sessionId ??= m.peerId;
    m.admitted = true;
    const effects: Effect[] = [{ type: 'send', to: m, message: { type: 'admitted', peers: others.map(peerInfo) } }];
    for (const o of others) effects.push({ type: 'send', to: o, message: { type: 'peer-joined', peer: peerInfo(m) } });
    effects.push({ type: 'presence', owner: m.instanceId, event: this.peerEvent('peer.joined', room, m, at) });
    return effects;
  }

  /** Takes a member out of its room; `reporter` overrides who reports presence (when the holder is gone). */
  private drop(room: Room, m: MemberState, reason: string, at: string, reporter = m.instanceId): Effect[] {
    room.members.delete(m.peerId);
    const effects: Effect[] = [];
    if (m.admitted) {
      const remaining = [...room.members.values()].filter((o) => o.admitted);
      for (const o of remaining) {
        effects.push({ type: 'send', to: o, message: { type: 'peer-left', peerId: m.peerId, participantId: m.participantId, reason } });
      }
      effects.push({ type: 'presence', owner: reporter, event: { ...this.peerEvent('peer.left', room, m, at), reason } });
      if (remaining.length === 0 && room.sessionId) {
        effects.push({
          type: 'presence',
          owner: reporter,
          event: {
            provider: 'p2p',
            eventId: `${room.sessionId}:session.closed`,
            type: 'session.closed',
            roomId: room.roomId,
            meetingId: room.meetingId,
            sessionId: room.sessionId,
            occurredAt: at,
            reason,
            rawType: 'p2p.session.closed',
          },
        });
        room.sessionId = undefined;
      }
    } else {
      effects.push(...this.lobbyUpdate(room));
    }
    if (room.members.size === 0) this.rooms.delete(room.roomId);
    return effects;
  }

  private remove(roomId: string, participantId: string, byPeerId: string, at: string): Effect[] {
    const room = this.rooms.get(roomId);
    const by = room?.members.get(byPeerId);
    if (!room || !by || by.role !== 'host' || !by.admitted) return [];
    const keys = this.denied.get(roomId) ?? new Set<string>();
    this.denied.set(roomId, keys);
    keys.add(participantId);
    const effects: Effect[] = [];
    for (const m of [...room.members.values()]) {
      if (m.participantId !== participantId) continue;
      keys.add(m.tokenId);
      effects.push({ type: 'close', to: m, code: CloseCode.REMOVED, reason: 'removed from this meeting by the host' });
      effects.push(...this.drop(room, m, 'removed by the host', at));
    }
    return effects;
  }

  private end(roomId: string, reason: string, at: string): Effect[] {
    this.pruneEnded(Date.parse(at));
    this.ended.set(roomId, { at, reason });
    const room = this.rooms.get(roomId);
    if (!room) return [];
    const effects: Effect[] = [];
    // Lobby first, so nobody is admitted by accident while the call is being torn down.
    const ordered = [...room.members.values()].sort((a, b) => Number(a.admitted) - Number(b.admitted));
    for (const m of ordered) {
      effects.push({ type: 'close', to: m, code: CloseCode.MEETING_ENDED, reason: `meeting ended: ${reason}` });
      effects.push(...this.drop(room, m, 'meeting ended', at));
    }
    this.denied.delete(roomId);
    return effects;
  }

  private lobbyUpdate(room: Room): Effect[] {
    const waiting = [...room.members.values()].filter((m) => !m.admitted).map(peerInfo);
    return [...room.members.values()]
      .filter((m) => m.admitted && m.role === 'host')
      .map((host) => ({ type: 'send' as const, to: host, message: { type: 'lobby' as const, waiting } }));
  }

  private peerEvent(type: 'peer.joined' | 'peer.left', room: Room, m: Member, at: string): P2pProviderEvent {
    return {
      provider: 'p2p',
      eventId: `${m.peerId}:${type}`,
      type,
      roomId: room.roomId,
      meetingId: room.meetingId,
      sessionId: room.sessionId,
      peerId: m.peerId,
      userId: m.userId,
      role: m.role,
      participantId: m.participantId,
      displayName: m.displayName,
      occurredAt: at,
      rawType: `p2p.${type}`,
    };
  }

  private pruneEnded(nowMs: number): void {
    for (const [roomId, e] of this.ended) if (nowMs - Date.parse(e.at) > ENDED_RETENTION_MS) this.ended.delete(roomId);
  }

  /** Drops, without any effect, what we knew of other instances' connections (it is resent on sync). */
  forgetOthers(instanceId: string): void {
    for (const room of [...this.rooms.values()]) {
      for (const m of [...room.members.values()]) if (m.instanceId !== instanceId) room.members.delete(m.peerId);
      if (room.members.size === 0) this.rooms.delete(room.roomId);
    }
  }

  /** This instance's own share of the state, for an instance that starts while meetings are running. */
  snapshot(instanceId: string): RegistrySnapshot {
    return {
      members: this.membersOf(instanceId).map((m) => ({ ...m })),
      sessions: [...this.rooms.values()].flatMap((r) => (r.sessionId ? [{ roomId: r.roomId, sessionId: r.sessionId }] : [])),
      ended: [...this.ended].map(([roomId, e]) => ({ roomId, ...e })),
      denied: [...this.denied].map(([roomId, keys]) => ({ roomId, keys: [...keys] })),
    };
  }

  /** Merges another instance's snapshot; entries already known (from the log) win. */
  restore(s: RegistrySnapshot): void {
    for (const e of s.ended) if (!this.ended.has(e.roomId)) this.ended.set(e.roomId, { at: e.at, reason: e.reason });
    for (const d of s.denied) {
      const keys = this.denied.get(d.roomId) ?? new Set<string>();
      for (const k of d.keys) keys.add(k);
      this.denied.set(d.roomId, keys);
    }
    for (const m of s.members) {
      if (this.ended.has(m.roomId)) continue;
      let room = this.rooms.get(m.roomId);
      if (!room) {
        room = { roomId: m.roomId, meetingId: m.meetingId, members: new Map() };
        this.rooms.set(m.roomId, room);
      }
      if (!room.members.has(m.peerId)) room.members.set(m.peerId, { ...m });
    }
    for (const { roomId, sessionId } of s.sessions) {
      const room = this.rooms.get(roomId);
      if (room && [...room.members.values()].some((m) => m.admitted)) room.sessionId ??= sessionId;
    }
  }
}
