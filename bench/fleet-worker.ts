/**
 * Simulated devices for the MQTT benchmarks, run in a child process (`fleet.ts` forks it) so that the load
 * they generate does not share an event loop with the broker and ingest it measures. Driven over IPC:
 * connect, publish (as fast as acknowledgements allow, or paced), close.
 */
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic } from '../src/devices/topics.js';
import type { FleetReply, FleetRequest } from './fleet.js';

const clients: { id: string; client: MqttClient }[] = [];
/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
const epochMs = () => performance.timeOrigin + performance.now();

function reply(message: FleetReply): void {
  process.send?.(message);
}

/** A camera's motion event as the simulator sends it; `at` is the publish time the latency is taken from. */
function motionEvent(): string {
  return JSON.stringify({
    type: 'motion',
    at: new Date().toISOString(),
    details: { zone: 'Front door', confidence: 0.87 },
  });
}

async function connect(request: Extract<FleetRequest, { op: 'connect' }>): Promise<void> {
  let failed = 0;
  let firstError = '';
  let next = 0;
  const connectOne = async () => {
    while (next < request.devices.length) {
      const device = request.devices[next++] as { id: string; password?: string };
      try {
        const client = await mqtt.connectAsync(request.url, {
          clientId: device.id,
          ...(device.password ? { username: device.id, password: device.password } : {}),
          protocolVersion: 4,
          clean: true,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
          keepalive: 300,
        });
        client.on('error', () => {});
        clients.push({ id: device.id, client });
      } catch (error) {
        failed++;
        firstError ||= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, connectOne));
  reply({ op: 'connected', connected: clients.length, failed, firstError });
}

/**
 * Each device publishes `perDevice` events at QoS 1. Unpaced, each keeps `window` unacknowledged at once;
 * paced, the fleet as a whole offers `rate` events per second in 10 ms ticks.
 */
async function publish(request: Extract<FleetRequest, { op: 'publish' }>): Promise<void> {
  const firstAt = epochMs();
  let acked = 0;
  let failed = 0;
  const send = (client: MqttClient, id: string) =>
    client.publishAsync(deviceTopic(id, 'events'), motionEvent(), { qos: 1 }).then(
      () => {
        acked++;
      },
      () => {
        failed++;
      },
    );
  if (request.rate === undefined) {
    await Promise.all(
      clients.map(async ({ id, client }) => {
        let sent = 0;
        const lane = async () => {
          while (sent < request.perDevice) {
            sent++;
            await send(client, id);
          }
        };
        await Promise.all(Array.from({ length: request.window }, lane));
      }),
    );
  } else {
    const total = request.perDevice * clients.length;
    const pending: Promise<void>[] = [];
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((epochMs() - firstAt) / 1000) * request.rate));
      for (; sent < due; sent++) {
        const { id, client } = clients[sent % clients.length] as { id: string; client: MqttClient };
        pending.push(send(client, id));
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await Promise.all(pending);
  }
  reply({ op: 'published', acked, failed, firstAt, lastAt: epochMs() });
}

async function close(): Promise<void> {
  const stillConnected = clients.filter(({ client }) => client.connected).length;
  await Promise.all(clients.map(({ client }) => client.endAsync(true).catch(() => {})));
  clients.length = 0;
  reply({ op: 'closed', stillConnected });
}

process.on('message', (request: FleetRequest) => {
  const work =
    request.op === 'connect' ? connect(request) : request.op === 'publish' ? publish(request) : close();
  work.catch((error: unknown) =>
    reply({ op: 'error', message: error instanceof Error ? error.message : String(error) }),
  );
});
// The parent's death ends the fleet too.
process.on('disconnect', () => process.exit(0));
