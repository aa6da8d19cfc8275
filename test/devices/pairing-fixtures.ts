import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { Broker } from '../../src/broker/index.js';
import type { DeviceModel } from '../../src/devices/catalog.js';
import type { Caller } from '../homes/helpers.js';
import type { TestHttp } from '../http/build.js';

/** A broker that records what the device registry asks of it, in order. */
export interface RecordingBroker extends Broker {
  calls: { op: 'provision' | 'revoke'; deviceId: string; password?: string }[];
}

export function recordingBroker(): RecordingBroker {
  const calls: RecordingBroker['calls'] = [];
  return {
    calls,
    start: async () => {},
    stop: async () => {},
    deviceUrl: () => 'mqtt://broker.test:1883',
    provision: async (deviceId, password) => {
      calls.push({ op: 'provision', deviceId, password });
    },
    revoke: async (deviceId) => {
      calls.push({ op: 'revoke', deviceId });
    },
    sendCommand: async () => {},
    dropConnections: async () => {},
    connectedDeviceIds: () => [],
  };
}

/** A hardware identity no other test uses. */
export function hardware(model: DeviceModel = 'plug') {
  const mac = randomBytes(6).toString('hex').toUpperCase().match(/../g)?.join('-') ?? '';
  return {
    mac,
    serial: `SN-${randomBytes(5).toString('hex')}`,
    model,
    firmware: '1.4.2',
    ssid: `Wifi ${randomBytes(3).toString('hex')}`,
  };
}

export type Hardware = ReturnType<typeof hardware>;

export async function claimToken(http: TestHttp, user: Caller, homeId: string): Promise<string> {
  const response = await http.app.inject({
    method: 'POST',
    url: `/v1/homes/${homeId}/claim-tokens`,
    headers: user.headers,
  });
  expect(response.statusCode, response.body).toBe(201);
  return (response.json() as { claimToken: string }).claimToken;
}

export function provision(http: TestHttp, token: string, body: unknown, remoteAddress = '192.0.2.44') {
  return http.app.inject({
    method: 'POST',
    url: '/v1/provisioning',
    headers: { authorization: `Bearer ${token}` },
    remoteAddress,
    payload: body as Record<string, unknown>,
  });
}

export interface PairedDevice {
  deviceId: string;
  password: string;
  hardware: Hardware;
}

/** Pairs a new device with the home through the real flow. */
export async function pair(
  http: TestHttp,
  admin: Caller,
  homeId: string,
  device: Hardware = hardware(),
): Promise<PairedDevice> {
  const response = await provision(http, await claimToken(http, admin, homeId), device);
  expect(response.statusCode, response.body).toBe(201);
  const body = response.json() as { deviceId: string; mqtt: { password: string } };
  return { deviceId: body.deviceId, password: body.mqtt.password, hardware: device };
}
