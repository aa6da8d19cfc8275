import type { DeviceMessageSink } from '../devices/ports.js';
import { MAX_PAYLOAD_BYTES, parseDeviceTopic } from '../devices/topics.js';
import type { Logger } from '../log.js';

/**
 * Hands one message the cloud received on a device topic to the sink. Anything that is not a device
 * channel, or is larger than MAX_PAYLOAD_BYTES, is dropped here: the broker should already have refused it.
 */
export function deliverToSink(sink: DeviceMessageSink, logger: Logger, topic: string, payload: Buffer): void {
  const parsed = parseDeviceTopic(topic);
  if (parsed === null || parsed.channel === 'commands') return;
  if (payload.length > MAX_PAYLOAD_BYTES) {
    logger.warn({ channel: parsed.channel, bytes: payload.length }, 'oversized device message dropped');
    return;
  }
  try {
    sink.accept({ deviceId: parsed.deviceId, channel: parsed.channel, payload, receivedAt: new Date() });
  } catch (error) {
    // The sink must not throw; if it does, the broker keeps running and the message is lost, loudly.
    logger.error({ err: error, channel: parsed.channel }, 'device message sink failed');
  }
}
