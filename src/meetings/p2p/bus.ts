import { randomBytes } from 'node:crypto';
import type { SignalPayload } from './protocol.js';
import type { LogEntry, RegistrySnapshot } from './room-state.js';

/**
 * How signaling server instances talk to each other. The one property everything relies on: every instance
 * receives messages in the same global order, its own included. Membership changes go out as `log` entries
 * and are applied only when they come back, so all instances replay one log.
 */
export type BusMessage =
  | { kind: 'log'; origin: string; entry: LogEntry }
  /** A relayed offer, answer or candidate for a connection held by the receiving instance. */
  | { kind: 'signal'; origin: string; roomId: string; from: string; to: string; data: SignalPayload }
  /** A starting (or reconnected) instance asks the others for their share of the state. */
  | { kind: 'sync-request'; origin: string }
  | { kind: 'snapshot'; origin: string; snapshot: RegistrySnapshot }
  | { kind: 'alive'; origin: string };

export interface SignalingBus {
  readonly instanceId: string;
  /** Every instance's handlers get the message, in publish order across all instances; `to` limits it to one. */
  publish(message: BusMessage, to?: string): Promise<void>;
  subscribe(handler: (message: BusMessage) => void): () => void;
  /** Called after the bus lost messages (a dropped database connection) and is delivering again. */
  onReset(handler: () => void): () => void;
  close(): Promise<void>;
}

export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}

/**
 * The bus for one process (PGlite, tests): one queue in memory. Several endpoints of one hub behave like
 * several servers on one PostgreSQL, which is how tests run two signaling servers in one process.
 */
export class InProcessBusHub {
  private readonly handlers = new Map<string, Set<(message: BusMessage) => void>>();

  endpoint(instanceId = newInstanceId()): SignalingBus {
    const mine = new Set<(message: BusMessage) => void>();
    this.handlers.set(instanceId, mine);
    let closed = false;
    return {
      instanceId,
      publish: async (message, to) => {
        if (closed) throw new Error('signaling bus is closed');
        // Delivered later, never inside the publisher's call stack, as with a real database round trip.
        queueMicrotask(() => {
          const targets = to === undefined ? [...this.handlers.values()] : [this.handlers.get(to) ?? new Set()];
          for (const set of targets) for (const handler of set) handler(message);
        });
      },
      subscribe: (handler) => {
        mine.add(handler);
        return () => mine.delete(handler);
      },
      onReset: () => () => undefined,
      close: async () => {
        closed = true;
        this.handlers.delete(instanceId);
      },
    };
  }
}

export function createInProcessBus(): SignalingBus {
  return new InProcessBusHub().endpoint();
}
