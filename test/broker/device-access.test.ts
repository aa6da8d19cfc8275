import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopic, MAX_PAYLOAD_BYTES } from '../../src/devices/topics.js';
import { type BrokerUnderTest, brokerMode, collect, pause, startBrokerUnderTest } from './harness.js';

describe(`MQTT device access (${brokerMode} broker)`, () => {
  let env: BrokerUnderTest;

  beforeAll(async () => {
    env = await startBrokerUnderTest();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('refuses anonymous connections', async () => {
    await expect(env.connect({ clientId: randomUUID() })).rejects.toThrow(/not authori[sz]ed|bad user/i);
  });

  it('refuses a wrong password and an unknown device', async () => {
    const device = await env.addDevice();
    await expect(env.connectDevice(device, { password: `${device.password}x` })).rejects.toThrow(
      /not authori[sz]ed|bad user/i,
    );
    const stranger = { id: randomUUID(), password: device.password };
    await expect(env.connectDevice(stranger)).rejects.toThrow(/not authori[sz]ed|bad user/i);
  });

  it('refuses a device that connects under another client id', async () => {
    const device = await env.addDevice();
    await expect(env.connectDevice(device, { clientId: randomUUID() })).rejects.toThrow(
      /not authori[sz]ed|identifier rejected/i,
    );
  });

  it('hands what a device publishes on its own channels to the sink', async () => {
    const device = await env.addDevice();
    const client = await env.connectDevice(device);
    await client.publishAsync(deviceTopic(device.id, 'state'), '{"on":true}', { qos: 1 });
    await client.publishAsync(deviceTopic(device.id, 'events'), '{"type":"motion"}', { qos: 0 });
    const state = await env.waitForMessage((m) => m.deviceId === device.id && m.channel === 'state');
    expect(state.payload.toString()).toBe('{"on":true}');
    expect(state.receivedAt).toBeInstanceOf(Date);
    const event = await env.waitForMessage((m) => m.deviceId === device.id && m.channel === 'events');
    expect(event.payload.toString()).toBe('{"type":"motion"}');
  });

  it("never lets device A write to B's topics", async () => {
    const [a, b] = [await env.addDevice(), await env.addDevice()];
    const clientA = await env.connectDevice(a);
    // Mosquitto drops the message; the embedded broker also drops A's connection (MQTT 3.1.1 has no refusal).
    await clientA.publishAsync(deviceTopic(b.id, 'state'), '{"spoofed":true}', { qos: 0 }).catch(() => {});
    await clientA.publishAsync(deviceTopic(b.id, 'commands'), '{"spoofed":true}', { qos: 0 }).catch(() => {});
    const clientB = await env.connectDevice(b);
    await clientB.publishAsync(deviceTopic(b.id, 'state'), '{"genuine":true}', { qos: 1 });
    await env.waitForMessage((m) => m.deviceId === b.id && m.payload.toString() === '{"genuine":true}');
    await pause(200);
    expect(env.received.filter((m) => m.payload.toString().includes('spoofed'))).toEqual([]);
  });

  it("never lets device A read B's commands, and delivers each command to its device", async () => {
    const [a, b] = [await env.addDevice(), await env.addDevice()];
    const clientA = await env.connectDevice(a);
    const clientB = await env.connectDevice(b);
    const toA = collect(clientA, deviceTopic(b.id, 'commands'));
    const ownA = collect(clientA, deviceTopic(a.id, 'commands'));
    const toB = collect(clientB, deviceTopic(b.id, 'commands'));
    const refused = await clientA.subscribeAsync(deviceTopic(b.id, 'commands'), { qos: 1 }).catch(() => null);
    expect(refused === null || refused.every((grant) => grant.qos === 128)).toBe(true);
    const wildcard = await clientA.subscribeAsync('hearth/d/+/commands', { qos: 1 }).catch(() => null);
    expect(wildcard === null || wildcard.every((grant) => grant.qos === 128)).toBe(true);
    await clientA.subscribeAsync(deviceTopic(a.id, 'commands'), { qos: 1 });
    await clientB.subscribeAsync(deviceTopic(b.id, 'commands'), { qos: 1 });

    const forB = { id: randomUUID(), name: 'switch', params: { on: true } };
    const forA = { id: randomUUID(), name: 'switch', params: { on: false } };
    await env.broker.sendCommand(b.id, forB);
    await env.broker.sendCommand(a.id, forA);
    await expect.poll(() => toB.messages.length, { timeout: 3_000 }).toBe(1);
    await expect.poll(() => ownA.messages.length, { timeout: 3_000 }).toBe(1);
    expect(JSON.parse(toB.messages[0] as string)).toEqual(forB);
    expect(JSON.parse(ownA.messages[0] as string)).toEqual(forA);
    await pause(200);
    expect(toA.messages).toEqual([]);
  });

  it('drops a payload above MAX_PAYLOAD_BYTES and keeps one at the limit', async () => {
    const device = await env.addDevice();
    // Far above the limit, the connection is cut before the packet is read.
    const huge = await env.connectDevice(device);
    const closed = new Promise<void>((resolve) => huge.once('close', () => resolve()));
    huge.publish(deviceTopic(device.id, 'events'), Buffer.alloc(1024 * 1024, 'z'), { qos: 0 });
    await closed;
    const big = await env.connectDevice(device);
    await big
      .publishAsync(deviceTopic(device.id, 'events'), Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 'x'), { qos: 0 })
      .catch(() => {});
    const client = await env.connectDevice(device);
    await client.publishAsync(deviceTopic(device.id, 'events'), Buffer.alloc(MAX_PAYLOAD_BYTES, 'y'), {
      qos: 1,
    });
    await env.waitForMessage((m) => m.deviceId === device.id && m.payload[0] === 'y'.charCodeAt(0));
    await pause(200);
    const sizes = env.received.filter((m) => m.deviceId === device.id).map((m) => m.payload.length);
    expect(sizes).toEqual([MAX_PAYLOAD_BYTES]);
  });
});
