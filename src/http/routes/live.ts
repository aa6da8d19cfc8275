import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import type { LiveDeviceState } from '../../devices/device-updates.js';
import type { HomeEventRecord } from '../../devices/event-updates.js';
import { idSchema } from '../../schema/ids.js';
import { principalOf } from '../auth.js';
import { type EventStreamOptions, eventStreams, serverEvent } from '../event-stream.js';
import { problemResponse } from '../problem.js';

export interface LiveRouteOptions extends EventStreamOptions {
  homes: Pick<Services['homes'], 'get'>;
  devices: Pick<Services['devices'], 'requireDevice' | 'list'>;
  updates: Pick<Services['telemetry']['updates'], 'subscribeHome'>;
  eventUpdates: Pick<Services['telemetry']['eventUpdates'], 'subscribeHome'>;
}

type StreamedState = Pick<
  LiveDeviceState,
  'deviceId' | 'connected' | 'lastSeenAt' | 'reported' | 'reportedVersion' | 'reportedAt'
>;

/** One state event: the device's current state, not a diff, so a client may apply events in any number. */
export function liveStateEvent(state: StreamedState): string {
  const data = {
    deviceId: state.deviceId,
    connected: state.connected,
    lastSeenAt: state.lastSeenAt,
    reported: state.reported,
    reportedVersion: state.reportedVersion,
    reportedAt: state.reportedAt,
  };
  return serverEvent('state', data, `${state.deviceId}:${state.reportedVersion}`);
}

/** One new device event, as the event history lists it. */
export function liveEventMessage(event: HomeEventRecord): string {
  const data = {
    id: event.id,
    deviceId: event.deviceId,
    type: event.type,
    occurredAt: event.occurredAt,
    receivedAt: event.receivedAt,
    details: event.details,
  };
  return serverEvent('event', data);
}

/**
 * A home's live device state as server-sent events (README "Console security" says why a bearer header
 * rather than a ticket or cookie): the console reads it with fetch and the access token, so the route guard
 * checks it as it checks every request. After `ready`, every change to a device the caller may see (a guest
 * only their shared ones) arrives as a `state` event carrying the device's whole current state. A client
 * that reconnects with `Last-Event-ID` is sent the current state of every such device right after `ready`:
 * state is last-writer-wins, so that is the whole resume, and nothing older needs replaying. New device
 * events arrive as `event` events, for the live timeline.
 */
export const liveRoutes: FastifyPluginAsyncZod<LiveRouteOptions> = async (app, options) => {
  const { homes, devices, updates, eventUpdates } = options;
  const openEventStream = eventStreams(app, options);

  app.get(
    '/v1/homes/:homeId/live',
    {
      config: { access: 'user' },
      schema: {
        summary: "Watch a home's devices change, as server-sent events",
        description:
          'A `text/event-stream`: `ready` once subscribed, then `state` events, each with a device’s whole ' +
          'current state (connection, reported state and its version), and `event` events, each a new device ' +
          'event as `GET /v1/homes/{homeId}/events` lists it. A guest hears only the devices shared ' +
          'with them. Events are not replayed on a reconnect: read the event list again. The stream ends after a few minutes; a reconnect with `Last-Event-ID` is sent every ' +
          'device’s current state after `ready`.',
        tags: ['devices'],
        params: z.object({ homeId: idSchema }),
        response: {
          200: { description: 'The event stream.', content: { 'text/event-stream': { schema: z.string() } } },
          401: problemResponse('No valid access token.'),
          404: problemResponse('No such home, or not one of mine.'),
        },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request);
      // Before the stream opens, so a stranger gets the usual 404 problem.
      const home = await homes.get(userId, request.params.homeId);
      const visible = new Map<string, Promise<boolean>>();
      const mayView = (deviceId: string) => {
        let decision = visible.get(deviceId);
        if (!decision) {
          decision = devices.requireDevice(userId, deviceId, 'view').then(
            () => true,
            () => false,
          );
          visible.set(deviceId, decision);
        }
        return decision;
      };

      // Events keep their order even though each waits for its own visibility check.
      let queue = Promise.resolve();
      let unsubscribe = () => {};
      const stream = openEventStream(request, reply, () => unsubscribe());
      const stopUpdates = updates.subscribeHome(home.id, (state) => {
        queue = queue.then(async () => {
          if (await mayView(state.deviceId)) stream.write(liveStateEvent(state));
        });
      });
      const stopEvents = eventUpdates.subscribeHome(home.id, (event) => {
        queue = queue.then(async () => {
          if (await mayView(event.deviceId)) stream.write(liveEventMessage(event));
        });
      });
      unsubscribe = () => {
        stopUpdates();
        stopEvents();
      };
      stream.ready();
      if (request.headers['last-event-id'] === undefined) return;
      // A resume: subscribed first, then read, so no change falls between; a change heard twice carries
      // its version, so clients keep the newer.
      try {
        let cursor: string | undefined;
        do {
          const page = await devices.list(userId, home.id, { limit: 100, ...(cursor ? { cursor } : {}) });
          for (const device of page.items) stream.write(liveStateEvent({ ...device, deviceId: device.id }));
          cursor = page.next ?? undefined;
        } while (cursor && stream.open);
      } catch (error) {
        request.log.warn(
          { reason: error instanceof Error ? error.message : typeof error },
          'live resume failed',
        );
        stream.end();
      }
    },
  );
};
