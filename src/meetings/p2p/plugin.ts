import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { SIGNALING_PATH } from './protocol.js';
import type { SignalingServer } from './signaling-server.js';

export interface SignalingRoutesOptions {
  signaling: SignalingServer;
  /** 64 KiB fits any SDP offer several times over; larger frames are refused. */
  maxPayloadBytes?: number;
}

/**
 * Serves the signaling socket at /api/virtual-meetings/signal. The WebSocket plugin is registered here
 * unless the app already has it, so there is only ever one upgrade handler on the server.
 */
export async function signalingRoutes(app: FastifyInstance, opts: SignalingRoutesOptions): Promise<void> {
  const { signaling } = opts;
  if (!app.hasDecorator('websocketServer')) {
    await app.register(websocket, {
      options: { maxPayload: opts.maxPayloadBytes ?? 64 * 1024 },
      // Our own close first: browsers get 1001 "reconnect" rather than a plain close they take as leaving.
      preClose(done) {
        signaling.close().finally(() => {
          for (const client of this.websocketServer.clients) client.terminate();
          this.websocketServer.close(() => done());
        });
      },
    });
  } else {
    app.addHook('preClose', () => signaling.close());
  }
  await signaling.ready();
  app.get(SIGNALING_PATH, { websocket: true }, (socket, request) => signaling.handleConnection(socket, request.url));
}
