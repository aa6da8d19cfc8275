import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.js';
import type { ActionProgress } from '../../incidents/model.js';
import { idSchema } from '../../schema/ids.js';
import { type EventStreamOptions, eventStreams } from '../event-stream.js';
import { operatorOf } from '../operator-auth.js';
import { problemResponse } from '../problem.js';

export interface IncidentProgressRouteOptions extends EventStreamOptions {
  incidents: Pick<Services['incidents'], 'progress'>;
  incidentJobs: Pick<Services['incidentJobs'], 'isRunning'>;
  /** How often the stored progress is read: the action rows are the truth whichever node runs the work. */
  pollMs?: number;
  /**
   * How long nothing must have been running before the stream says `end`, when the work was not seen
   * running on this node: between two actions of one request, every stored action is finished for a moment.
   */
  settleMs?: number;
}

const progressKey = (action: ActionProgress) =>
  `${action.action}:${action.status}:${action.done}:${action.total}`;

/**
 * An incident's response work as server-sent events, read with fetch and the operator's bearer token like
 * a home's live stream. Every connection (the first, or a resume with `Last-Event-ID`) starts with each
 * action's stored progress after `ready`; from then on an `action` event comes whenever one advances, and a
 * `notices` event whenever the notice counts change. Progress is last-writer-wins, so sending the current
 * state is the whole resume. `end` comes once nothing runs any more, and the stream closes.
 */
export const adminIncidentProgressRoutes: FastifyPluginAsyncZod<IncidentProgressRouteOptions> = async (
  app,
  options,
) => {
  const { incidents, incidentJobs } = options;
  const pollMs = options.pollMs ?? 250;
  const settleMs = options.settleMs ?? 1_500;
  const openEventStream = eventStreams(app, options);

  app.get(
    '/v1/admin/incidents/:incidentId/progress',
    {
      config: { access: 'operator' },
      // No automatic HEAD route: HEAD would run the handler (an audit entry, a walk of the database) for no answer.
      exposeHeadRoute: false,
      schema: {
        summary: "Watch an incident's response actions advance, as server-sent events",
        description:
          'Any operator role. A `text/event-stream`: `ready`, then one `action` event per response action ' +
          'with its stored progress (action, params, status, done, total, timestamps, error) and a `notices` ' +
          'event with the delivery counts; after that, the same events whenever they change (read from the ' +
          'database every quarter second, so work running on any node shows). `end` follows once no action ' +
          'runs, and the stream closes; otherwise it ends after a few minutes and a reconnect (with ' +
          '`Last-Event-ID` or without) starts again with the current progress.',
        tags: ['incidents'],
        params: z.object({ incidentId: idSchema }),
        response: {
          200: { description: 'The event stream.', content: { 'text/event-stream': { schema: z.string() } } },
          401: problemResponse('No valid operator session.'),
          404: problemResponse('There is no such incident.'),
        },
      },
    },
    async (request, reply) => {
      const operator = operatorOf(request);
      const { incidentId } = request.params;
      // Before the stream opens, so an unknown incident gets the usual 404 problem.
      let progress = await incidents.progress(incidentId, operator);
      let timer: NodeJS.Timeout | undefined;
      const stream = openEventStream(request, reply, () => clearTimeout(timer));
      stream.ready();
      const sent = new Map<string, string>();
      let sentNotices = '';
      let sawRunning = false;
      let idleSince: number | null = null;

      const tick = async () => {
        for (const action of progress.actions) {
          const key = progressKey(action);
          if (sent.get(action.action) === key) continue;
          sent.set(action.action, key);
          stream.send('action', action, key);
        }
        const notices = JSON.stringify(progress.notices);
        if (notices !== sentNotices) {
          sentNotices = notices;
          stream.send('notices', progress.notices);
        }
        const running =
          incidentJobs.isRunning(incidentId) ||
          progress.actions.some((action) => action.status === 'running');
        if (running) {
          sawRunning = incidentJobs.isRunning(incidentId) || sawRunning;
          idleSince = null;
        } else {
          idleSince ??= Date.now();
          // Work this node ran is over for sure; work elsewhere may only be between two actions.
          if (sawRunning || Date.now() - idleSince >= settleMs) {
            stream.send('end', { actions: progress.actions });
            stream.end();
            return;
          }
        }
        timer = setTimeout(poll, pollMs);
      };
      const poll = async () => {
        try {
          progress = await incidents.progress(incidentId, operator);
          if (stream.open) await tick();
        } catch (error) {
          request.log.warn(
            { reason: error instanceof Error ? error.name : typeof error },
            'incident progress read failed',
          );
          stream.end();
        }
      };
      await tick();
    },
  );
};
