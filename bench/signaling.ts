/**
 * Signaling benchmark: concurrent two-person meetings of WebSocket clients against the p2p signaling server,
 * measuring
 *   1. connect time: from "the host opens its socket" (the patient already waits in the lobby) to both
 *      peers connected at the signaling level — both admitted, offer relayed, answer relayed back;
 *   2. relay throughput: signaling messages relayed per second once everyone is in.
 * Servers run in child processes so the clients do not share their event loop.
 *
 *   npm run bench:signaling                                    # one instance, in-process bus
 *   BENCH_DATABASE_URL=postgres://… npm run bench:signaling    # hosts on one instance, patients on another
 * Options (env): MEETINGS (50), DURATION_MS (5000), WINDOW (messages in flight per client, 16).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import WebSocket from 'ws';
import { createInProcessBus } from '../src/meetings/p2p/bus.js';
import { signalingRoutes } from '../src/meetings/p2p/plugin.js';
import { createPostgresBus } from '../src/meetings/p2p/postgres-bus.js';
import { SIGNALING_PATH, type ServerMessage } from '../src/meetings/p2p/protocol.js';
import { createSignalingServer } from '../src/meetings/p2p/signaling-server.js';
import { P2pVideoProvider } from '../src/meetings/providers/p2p/provider.js';

const KEY = 'bench-signaling-key-0123456789abcdef-0123';
const MEETINGS = Number(process.env.MEETINGS ?? 50);
const DURATION_MS = Number(process.env.DURATION_MS ?? 5_000);
const WINDOW = Number(process.env.WINDOW ?? 16);
const DATABASE_URL = process.env.BENCH_DATABASE_URL;

const CANDIDATE = {
  candidate: 'candidate:842163049 1 udp 1677729535 192.0.2.10 50000 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag Xq4b network-cost 999',
  sdpMid: '0',
  sdpMLineIndex: 0,
};
const OFFER_SDP = `v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n'.repeat(40)}`;

async function runServer(): Promise<void> {
  let presence = 0;
  const bus = DATABASE_URL ? await createPostgresBus({ connectionString: DATABASE_URL }) : createInProcessBus();
  const server = createSignalingServer({ signingKey: KEY, bus, onPresence: async (events) => void (presence += events.length) });
  const app = Fastify();
  await app.register(signalingRoutes, { signaling: server });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.send!({ port: (app.server.address() as { port: number }).port });
  let cpuAtStart = process.cpuUsage();
  process.on('message', async (m: { stop?: boolean; measure?: 'start' | 'end' }) => {
    if (m.measure === 'start') cpuAtStart = process.cpuUsage();
    if (m.measure === 'end') {
      const used = process.cpuUsage(cpuAtStart);
      process.send!({ cpuSeconds: (used.user + used.system) / 1e6 });
    }
    if (!m.stop) return;
    await app.close();
    await bus.close();
    process.send!({ presence });
    process.exit(0);
  });
}

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('message', (m: { port: number }) => resolve({ child, url: `ws://127.0.0.1:${m.port}${SIGNALING_PATH}` })));
}

class Client {
  readonly socket: WebSocket;
  peerId = '';
  private handlers: ((m: ServerMessage) => void)[] = [];
  /** State messages already received, so a wait that starts late still sees them. */
  private readonly seen = new Map<string, ServerMessage>();
  constructor(url: string, token: string) {
    this.socket = new WebSocket(url);
    this.socket.on('open', () => this.socket.send(JSON.stringify({ type: 'auth', token })));
    this.socket.on('message', (raw) => {
      const text = raw.toString();
      // The clients are not what is measured: relayed signals are recognised without parsing them.
      if (text.startsWith('{"type":"signal"') && this.fastSignal) return this.fastSignal();
      const m = JSON.parse(text) as ServerMessage;
      if (m.type === 'welcome') this.peerId = m.self.peerId;
      if (m.type !== 'signal') this.seen.set(m.type, m);
      for (const h of this.handlers) h(m);
    });
  }
  fastSignal?: () => void;
  on(handler: (m: ServerMessage) => void): void {
    this.handlers.push(handler);
  }
  until<T extends ServerMessage['type']>(type: T): Promise<Extract<ServerMessage, { type: T }>> {
    const already = this.seen.get(type);
    if (already) return Promise.resolve(already as Extract<ServerMessage, { type: T }>);
    return new Promise((resolve) => {
      const h = (m: ServerMessage) => {
        if (m.type === type) {
          this.handlers = this.handlers.filter((x) => x !== h);
          resolve(m as Extract<ServerMessage, { type: T }>);
        }
      };
      this.handlers.push(h);
    });
  }
  signal(to: string, data: unknown): void {
    this.socket.send(JSON.stringify({ type: 'signal', to, data }));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const servers = DATABASE_URL ? [await startServer(), await startServer()] : [await startServer()];
  const hostUrl = servers[0].url;
  const patientUrl = servers[servers.length - 1].url;
  const provider = new P2pVideoProvider({ provider: 'p2p', signingKey: KEY });
  const token = async (meeting: number, role: 'host' | 'patient') =>
    (
      await provider.issueJoinCredentials({
        roomId: `p2p-bench-${meeting}`,
        meetingId: `bench-${meeting}`,
        participantId: `${role}-${meeting}`,
        userId: `${role}-${meeting}`,
        role,
        displayName: role,
        expiresAt: new Date(Date.now() + 600_000),
      })
    ).token;

  // Patients first: they wait in the lobby.
  const patients: Client[] = [];
  for (let i = 0; i < MEETINGS; i++) patients.push(new Client(patientUrl, await token(i, 'patient')));
  await Promise.all(patients.map((p) => p.until('waiting')));
  const hostTokens = await Promise.all(Array.from({ length: MEETINGS }, (_, i) => token(i, 'host')));

  // All hosts join at once.
  const connectTimes: number[] = [];
  const hosts: Client[] = [];
  await Promise.all(
    hostTokens.map(async (t, i) => {
      const patient = patients[i];
      const patientAdmitted = patient.until('admitted');
      const started = performance.now();
      const host = new Client(hostUrl, t);
      hosts.push(host);
      await host.until('admitted');
      const { peers } = await patientAdmitted;
      const offerArrives = patient.until('signal');
      if (peers[0]?.peerId !== host.peerId) throw new Error('patient was admitted without its host');
      host.signal(patient.peerId, { description: { type: 'offer', sdp: OFFER_SDP } });
      const offer = await offerArrives;
      const answerArrives = host.until('signal');
      patient.signal(offer.from, { description: { type: 'answer', sdp: OFFER_SDP } });
      await answerArrives;
      connectTimes.push(performance.now() - started);
    }),
  );
  connectTimes.sort((a, b) => a - b);

  // Throughput: every client keeps WINDOW candidates in flight towards its peer and answers each one it gets.
  let relayed = 0;
  let counting = false;
  let running = true;
  const pairs = hosts.map((h) => [h, patients[hosts.indexOf(h)]] as const);
  for (const [host, patient] of pairs) {
    for (const [me, other] of [
      [host, patient],
      [patient, host],
    ] as const) {
      const frame = JSON.stringify({ type: 'signal', to: other.peerId, data: { candidate: CANDIDATE } });
      me.fastSignal = () => {
        if (counting) relayed++;
        if (running) me.socket.send(frame);
      };
    }
  }
  for (const [host, patient] of pairs) {
    for (let k = 0; k < WINDOW; k++) {
      host.signal(patient.peerId, { candidate: CANDIDATE });
      patient.signal(host.peerId, { candidate: CANDIDATE });
    }
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const measure = (phase: 'start' | 'end') =>
    Promise.all(
      servers.map(
        ({ child }) =>
          new Promise<number>((resolve) => {
            if (phase === 'end') child.once('message', (m: { cpuSeconds: number }) => resolve(m.cpuSeconds));
            child.send({ measure: phase });
            if (phase === 'start') resolve(0);
          }),
      ),
    );
  await measure('start');
  counting = true;
  const t0 = performance.now();
  const clientCpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  const elapsed = (performance.now() - t0) / 1000;
  counting = false;
  const clientCpu = process.cpuUsage(clientCpu0);
  const serverCpuSeconds = (await measure('end')).reduce((a, b) => a + b, 0);
  running = false;
  const rate = relayed / elapsed;

  for (const c of [...hosts, ...patients]) c.socket.close(1000);
  await new Promise((r) => setTimeout(r, 500));
  const presence = await Promise.all(
    servers.map(
      ({ child }) =>
        new Promise<number>((resolve) => {
          child.once('message', (m: { presence: number }) => resolve(m.presence));
          child.send({ stop: true });
        }),
    ),
  );

  const fmt = (n: number) => n.toFixed(1);
  console.log(`p2p signaling benchmark — ${MEETINGS} two-person meetings, ${servers.length} instance(s)${DATABASE_URL ? ' over PostgreSQL LISTEN/NOTIFY' : ''}`);
  console.log(`  connect (host joins → both admitted, offer and answer relayed): p50 ${fmt(percentile(connectTimes, 50))} ms, p95 ${fmt(percentile(connectTimes, 95))} ms, p99 ${fmt(percentile(connectTimes, 99))} ms, max ${fmt(connectTimes.at(-1)!)} ms  (target p99 < 200 ms)`);
  console.log(`  relayed: ${Math.round(rate).toLocaleString('en')} messages/s over ${fmt(elapsed)} s, window ${WINDOW} per client  (target ≥ 20,000/s)`);
  console.log(
    `  CPU during the run: servers ${fmt(serverCpuSeconds)} s, clients ${fmt((clientCpu.user + clientCpu.system) / 1e6)} s → ${Math.round(relayed / serverCpuSeconds).toLocaleString('en')} relayed messages per server CPU-second`,
  );
  console.log(`  presence events reported: ${presence.reduce((a, b) => a + b, 0)} (expected ${MEETINGS * 5})`);
  const ok = percentile(connectTimes, 99) < 200 && rate >= 20_000;
  process.exitCode = ok ? 0 : 1;
}

if (process.argv.includes('--server')) void runServer();
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
