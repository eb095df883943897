import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a webhook endpoint received, byte for byte, so tests can verify it as the product route will. */
export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
}

/**
 * A minimal HTTP endpoint on 127.0.0.1 that stands in for the product's webhook route. `answer` decides the
 * status (e.g. by running the provider's parseWebhook); everything received is kept in `received`.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private server!: Server;
  private port = 0;

  private constructor(private readonly answer: (hook: ReceivedWebhook) => Promise<number> | number) {}

  static async start(answer: (hook: ReceivedWebhook) => Promise<number> | number = () => 200): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(answer);
    receiver.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const hook = { headers: req.headers, rawBody: Buffer.concat(chunks) };
        receiver.received.push(hook);
        Promise.resolve()
          .then(() => receiver.answer(hook))
          .catch(() => 500)
          .then((status) => {
            res.writeHead(status);
            res.end();
          });
      });
    });
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    receiver.port = (receiver.server.address() as AddressInfo).port;
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhooks/100ms`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
