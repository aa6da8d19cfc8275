import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: the Lambda is plain JavaScript, deployed on its own.
import { handler } from '../../integrations/alexa-lambda/index.mjs';
import { ProviderStandIn } from '../helpers/providers.js';

const directive = {
  directive: {
    header: {
      namespace: 'Alexa',
      name: 'ReportState',
      messageId: 'm-1',
      correlationToken: 'corr-1',
      payloadVersion: '3',
    },
    endpoint: { scope: { type: 'BearerToken', token: 'tok' }, endpointId: 'device-1' },
    payload: {},
  },
};

describe('the Alexa skill’s Lambda forwarder', () => {
  let hearth: ProviderStandIn;
  const previous = process.env.HEARTH_DIRECTIVES_URL;
  beforeAll(async () => {
    hearth = await new ProviderStandIn(() => ({
      status: 200,
      body: { event: { header: { name: 'StateReport' } } },
    })).start();
    process.env.HEARTH_DIRECTIVES_URL = `${hearth.url}/v1/alexa/directives`;
  });
  afterAll(async () => {
    if (previous === undefined) delete process.env.HEARTH_DIRECTIVES_URL;
    else process.env.HEARTH_DIRECTIVES_URL = previous;
    await hearth?.stop();
  });

  it('forwards the directive as it came and returns Hearth’s answer', async () => {
    expect(await handler(directive)).toEqual({ event: { header: { name: 'StateReport' } } });
    expect(hearth.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: '/v1/alexa/directives',
      body: directive,
    });
  });

  it('answers BRIDGE_UNREACHABLE, correlation token echoed, when Hearth fails', async () => {
    hearth.failNext(1, 502);
    const answer = await handler(directive);
    expect(answer.event.header).toMatchObject({
      namespace: 'Alexa',
      name: 'ErrorResponse',
      correlationToken: 'corr-1',
    });
    expect(answer.event.endpoint).toEqual({ endpointId: 'device-1' });
    expect(answer.event.payload.type).toBe('BRIDGE_UNREACHABLE');
  });
});
