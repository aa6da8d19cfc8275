import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { devicePublishAllowed, parseDeviceTopic } from '../../src/devices/topics.js';

describe('device topics', () => {
  const id = randomUUID();

  it('splits every device channel and the command topic', () => {
    for (const channel of ['state', 'events', 'acks', 'status', 'commands'] as const) {
      expect(parseDeviceTopic(`hearth/d/${id}/${channel}`)).toEqual({ deviceId: id, channel });
    }
  });

  it('refuses anything that is not exactly hearth/d/<uuid>/<channel>', () => {
    for (const topic of [
      `hearth/d/${id}`,
      `hearth/d/${id}/`,
      `hearth/d/${id}/state/extra`,
      `hearth/d/${id}/secrets`,
      `hearth/d/${id}x/state`,
      `hearth/d/${id.toUpperCase()}/state`,
      `hearth/d/${id.slice(0, -1)}/state`,
      `hearth/d/${id.slice(0, -1)}z/state`,
      `hearth/x/${id}/state`,
      `hearth/d//${id}/state`,
      `Hearth/d/${id}/state`,
      `/hearth/d/${id}/state`,
      '',
    ]) {
      expect(parseDeviceTopic(topic), topic).toBeNull();
    }
  });

  it('lets a device publish only on its own channels, never on its command topic', () => {
    expect(devicePublishAllowed(id, `hearth/d/${id}/events`)).toBe(true);
    expect(devicePublishAllowed(id, `hearth/d/${id}/commands`)).toBe(false);
    expect(devicePublishAllowed(id, `hearth/d/${randomUUID()}/events`)).toBe(false);
  });
});
