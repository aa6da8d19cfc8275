import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { CATALOG } from '../../devices/catalog.js';
import type { Logger } from '../../log.js';
import { commandFailure, type ExposedDevice, type ExposedDevices } from '../exposed-devices.js';
import { authenticateFor, type GrantAuthenticator, type LinkedGrant } from '../linked-grant.js';
import {
  ACTIONS,
  firesTrigger,
  isAction,
  isTrigger,
  TRIGGERS,
  type TriggerSlug,
  takesAction,
} from './catalog.js';

/** IFTTT's default and our ceiling for a trigger's `limit`. */
export const DEFAULT_TRIGGER_LIMIT = 50;
export const MAX_TRIGGER_LIMIT = 1000;
/** A device id no device will ever have: the invalid sample IFTTT's endpoint test validates. */
const NO_SUCH_DEVICE = '00000000-0000-4000-8000-000000000000';

/** An answer in IFTTT's error format; `skip` tells IFTTT not to retry the action. */
export class IftttError extends Error {
  override name = 'IftttError';
  constructor(
    readonly status: 400 | 401 | 404 | 503,
    message: string,
    readonly skip = false,
  ) {
    super(message);
  }

  get body() {
    return { errors: [{ message: this.message, ...(this.skip ? { status: 'SKIP' } : {}) }] };
  }
}

export interface IftttDependencies {
  authenticator: GrantAuthenticator;
  devices: Pick<ExposedDevices, 'list' | 'get' | 'send' | 'events'>;
  users: { getById(id: string): Promise<{ name: string } | undefined> };
  /** HEARTH_IFTTT_SERVICE_KEY; without one every service-key request is refused. */
  serviceKey: string | null;
  /** The stable id IFTTT knows a person by (user/info, realtime notifications). */
  iftttUserIdOf(userId: string): string;
  /** The account IFTTT's endpoint test runs as: an access token of an IFTTT grant with exposed devices. */
  testAccount?: () => Promise<{ accessToken: string; grant: LinkedGrant } | null>;
  logger: Logger;
}

const triggerBody = z.object({
  trigger_identity: z.string().min(1).optional(),
  triggerFields: z.record(z.string(), z.unknown()),
  limit: z.number().int().min(0).optional(),
});
const actionBody = z.object({ actionFields: z.record(z.string(), z.unknown()) });
const validateBody = z.object({ value: z.unknown() });

/** The IFTTT service API over the device domain, for grants IFTTT holds. */
export class IftttService {
  readonly #deps: IftttDependencies;

  constructor(deps: IftttDependencies) {
    this.#deps = deps;
  }

  /** Compares digests, so neither the key's content nor its length leaks through timing. */
  checkServiceKey(key: string | undefined): void {
    const expected = this.#deps.serviceKey;
    const digest = (value: string) => createHash('sha256').update(value).digest();
    if (!expected || !key || !timingSafeEqual(digest(key), digest(expected))) {
      throw new IftttError(401, 'The IFTTT-Service-Key is not valid.');
    }
  }

  async testSetup(key: string | undefined) {
    this.checkServiceKey(key);
    const account = await this.#deps.testAccount?.();
    if (!account) throw new IftttError(503, 'No IFTTT test account is set up.');
    const { grant } = account;
    const devices = await this.#deps.devices.list(grant);
    // The sample device of a trigger is one with events, so the endpoint test sees real items.
    const samples = new Map<TriggerSlug, string | undefined>();
    for (const slug of Object.keys(TRIGGERS) as TriggerSlug[]) {
      const fitting = devices.filter((device) => firesTrigger(device.model, slug));
      let chosen = fitting[0]?.id;
      for (const device of fitting) {
        if ((await this.#deps.devices.events(grant, device.id, [TRIGGERS[slug].event], 1)).length > 0) {
          chosen = device.id;
          break;
        }
      }
      samples.set(slug, chosen);
    }
    const forTrigger = (slug: TriggerSlug) => samples.get(slug);
    const forAction = (slug: string) => devices.find((device) => takesAction(device.model, slug))?.id;
    const triggerSlugs = Object.keys(TRIGGERS) as TriggerSlug[];
    const actionSlugs = Object.keys(ACTIONS);
    const each = <T>(slugs: string[], value: (slug: string) => T) =>
      Object.fromEntries(slugs.map((slug) => [slug, value(slug)]));
    const actionFields = (slug: string, device: string | undefined, brightness: string) =>
      slug === 'set_brightness' ? { device, brightness } : { device };
    return {
      data: {
        accessToken: account.accessToken,
        samples: {
          triggers: each(triggerSlugs, (slug) => ({ device: forTrigger(slug as TriggerSlug) })),
          triggerFieldValidations: each(triggerSlugs, (slug) => ({
            device: { valid: forTrigger(slug as TriggerSlug), invalid: NO_SUCH_DEVICE },
          })),
          actions: each(actionSlugs, (slug) => actionFields(slug, forAction(slug), '50')),
          actionRecordSkipping: each(actionSlugs, (slug) =>
            slug === 'set_brightness'
              ? actionFields(slug, forAction(slug), '500')
              : actionFields(slug, NO_SUCH_DEVICE, ''),
          ),
        },
      },
    };
  }

  async userInfo(token: string | undefined) {
    const grant = await this.#grant(token);
    const user = await this.#deps.users.getById(grant.userId);
    if (!user) throw new IftttError(401, 'The account behind this token no longer exists.');
    return { data: { name: user.name, id: this.#deps.iftttUserIdOf(grant.userId) } };
  }

  /** The newest `limit` events of the chosen device, newest first, whether or not IFTTT has seen them. */
  async trigger(token: string | undefined, slug: string, body: unknown) {
    const grant = await this.#grant(token);
    const trigger = this.#trigger(slug);
    const parsed = triggerBody.safeParse(body);
    if (!parsed.success) {
      throw new IftttError(400, 'The request needs triggerFields and, if given, a whole-number limit ≥ 0.');
    }
    const limit = Math.min(parsed.data.limit ?? DEFAULT_TRIGGER_LIMIT, MAX_TRIGGER_LIMIT);
    const device = await this.#device(grant, parsed.data.triggerFields.device, (model) =>
      firesTrigger(model, trigger),
    );
    if (!device)
      throw new IftttError(400, 'That device is not shared with IFTTT or cannot fire this trigger.');
    const events = await this.#deps.devices.events(grant, device.id, [TRIGGERS[trigger].event], limit);
    return {
      data: events.map((event) => ({
        device_name: nameOf(device),
        device_id: device.id,
        room: device.room ?? '',
        occurred_at: event.occurredAt.toISOString(),
        meta: { id: event.id, timestamp: Math.floor(event.occurredAt.getTime() / 1000) },
      })),
    };
  }

  async triggerFieldOptions(token: string | undefined, slug: string, field: string) {
    const grant = await this.#grant(token);
    const trigger = this.#trigger(slug);
    this.#deviceField(field);
    return this.#options(grant, (device) => firesTrigger(device.model, trigger));
  }

  async validateTriggerField(token: string | undefined, slug: string, field: string, body: unknown) {
    const grant = await this.#grant(token);
    const trigger = this.#trigger(slug);
    this.#deviceField(field);
    const parsed = validateBody.safeParse(body);
    const device = parsed.success
      ? await this.#device(grant, parsed.data.value, (model) => firesTrigger(model, trigger))
      : null;
    return {
      data: device
        ? { valid: true }
        : { valid: false, message: 'Choose a device shared with IFTTT that can fire this trigger.' },
    };
  }

  /** Nothing is kept per trigger identity (realtime notifies by user), so there is nothing to forget. */
  async deleteTriggerIdentity(token: string | undefined, slug: string) {
    await this.#grant(token);
    this.#trigger(slug);
    return {};
  }

  async action(token: string | undefined, slug: string, body: unknown) {
    const grant = await this.#grant(token);
    const action = ACTIONS[slug];
    if (!action || !isAction(slug)) throw new IftttError(404, 'No such action.');
    const parsed = actionBody.safeParse(body);
    if (!parsed.success) throw new IftttError(400, 'The request needs actionFields.');
    const fields = parsed.data.actionFields;
    const device = await this.#device(grant, fields.device, (model) => takesAction(model, slug));
    if (!device) throw new IftttError(400, 'That device is not shared with IFTTT or cannot do this.', true);
    const params = action.params(fields);
    if (!params.ok) throw new IftttError(400, params.message, true);
    if (!device.connected) throw new IftttError(400, 'The device is offline.', true);
    try {
      const { command } = await this.#deps.devices.send(grant, device, action.command, params.params);
      if (command.status === 'failed') throw new IftttError(400, 'The device refused the command.', true);
      return { data: [{ id: command.id }] };
    } catch (error) {
      if (error instanceof IftttError) throw error;
      switch (commandFailure(error)) {
        case 'offline':
        case 'timeout':
          throw new IftttError(400, 'The device did not answer.', true);
        case 'not-found':
          throw new IftttError(400, 'That device is not shared with IFTTT.', true);
        case 'invalid':
          throw new IftttError(400, 'The device does not accept that value.', true);
        default:
          this.#deps.logger.warn(
            { reason: error instanceof Error ? error.message : typeof error },
            'ifttt action could not be sent',
          );
          throw new IftttError(503, 'Hearth cannot reach devices right now; try again shortly.');
      }
    }
  }

  async actionFieldOptions(token: string | undefined, slug: string, field: string) {
    const grant = await this.#grant(token);
    if (!isAction(slug)) throw new IftttError(404, 'No such action.');
    this.#deviceField(field);
    return this.#options(grant, (device) => takesAction(device.model, slug));
  }

  async #grant(token: string | undefined): Promise<LinkedGrant> {
    const checked = await authenticateFor(this.#deps.authenticator, 'ifttt', token);
    if (!checked.ok) throw new IftttError(401, 'The access token is not valid.');
    return checked.grant;
  }

  #trigger(slug: string): TriggerSlug {
    if (!isTrigger(slug)) throw new IftttError(404, 'No such trigger.');
    return slug;
  }

  #deviceField(field: string): void {
    if (field !== 'device') throw new IftttError(404, 'No such field.');
  }

  async #device(
    grant: LinkedGrant,
    value: unknown,
    fits: (model: ExposedDevice['model']) => boolean,
  ): Promise<ExposedDevice | null> {
    if (typeof value !== 'string') return null;
    const device = await this.#deps.devices.get(grant, value);
    return device && fits(device.model) ? device : null;
  }

  async #options(grant: LinkedGrant, fits: (device: ExposedDevice) => boolean) {
    const devices = (await this.#deps.devices.list(grant)).filter(fits);
    return {
      data: devices.map((device) => ({
        label: device.room ? `${nameOf(device)} (${device.room})` : nameOf(device),
        value: device.id,
      })),
    };
  }
}

function nameOf(device: ExposedDevice): string {
  return device.nickname ?? CATALOG[device.model].title;
}
