import { Aedes } from 'aedes';
import { connectSharedMqtt, type SharedMqtt } from '../../src/broker/shared-mqtt.js';

/** An aedes broker joined through Redis as Hearth's embedded broker joins it, for the shared-MQTT tests. */
export interface SharedNode {
  shared: SharedMqtt;
  broker: Aedes;
  /** What the shared layer reported through `onError`. */
  errors: unknown[];
  /** The payloads this node heard on `topic`. */
  heard: string[];
  publish(text: string): Promise<void>;
  /** As EmbeddedBroker.stop does it: the wills' round, then aedes, then the Redis connection. */
  stop(): Promise<void>;
}

export async function startSharedNode(options: {
  url: string;
  keyPrefix: string;
  topic: string;
  heartbeatMs: number;
}): Promise<SharedNode> {
  const { topic } = options;
  const errors: unknown[] = [];
  const heard: string[] = [];
  const shared = await connectSharedMqtt(
    { url: options.url, keyPrefix: options.keyPrefix },
    { acceptOrphanedWill: () => true, onError: (error) => errors.push(error) },
  );
  const broker = await Aedes.createBroker({
    id: shared.brokerId,
    mq: shared.mq,
    persistence: shared.persistence,
    heartbeatInterval: options.heartbeatMs,
  });
  await new Promise<void>((resolve) =>
    broker.subscribe(
      topic,
      (packet, done) => {
        heard.push(packet.payload.toString());
        done();
      },
      resolve,
    ),
  );
  return {
    shared,
    broker,
    errors,
    heard,
    publish: (text) =>
      new Promise<void>((resolve, reject) =>
        broker.publish(
          { cmd: 'publish', topic, payload: Buffer.from(text), qos: 0, retain: false, dup: false },
          (error) => (error ? reject(error) : resolve()),
        ),
      ),
    async stop() {
      await shared.stopWills();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await shared.close();
    },
  };
}
