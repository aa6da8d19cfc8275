import { CATALOG, type DeviceModel, type EventType } from '../../devices/catalog.js';
import { commandParamRange, inRange } from '../catalog-ranges.js';

/** IFTTT triggers: each fires on one event type, for a device chosen in the `device` field. */
export const TRIGGERS = {
  motion_detected: { event: 'motion' },
  door_opened: { event: 'contact-open' },
  device_went_offline: { event: 'offline' },
} as const satisfies Record<string, { event: EventType }>;
export type TriggerSlug = keyof typeof TRIGGERS;

const BRIGHTNESS = commandParamRange('bulb', 'set-brightness', 'brightness');

/** What an action's fields ask of the device, or why the action must be skipped. */
export type ActionParams = { ok: true; params: Record<string, unknown> } | { ok: false; message: string };

/** IFTTT actions: each sends one catalog command to the device chosen in the `device` field. */
export const ACTIONS: Record<
  string,
  { command: string; params(fields: Record<string, unknown>): ActionParams }
> = {
  turn_on: { command: 'switch', params: () => ({ ok: true, params: { on: true } }) },
  turn_off: { command: 'switch', params: () => ({ ok: true, params: { on: false } }) },
  set_brightness: {
    command: 'set-brightness',
    params: (fields) => {
      // IFTTT text fields arrive as strings.
      const raw = fields.brightness;
      const brightness = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
      return typeof brightness === 'number' && inRange(brightness, BRIGHTNESS)
        ? { ok: true, params: { brightness } }
        : {
            ok: false,
            message: `Brightness must be a whole number from ${BRIGHTNESS.min} to ${BRIGHTNESS.max}.`,
          };
    },
  },
};

export function isTrigger(slug: string): slug is TriggerSlug {
  return Object.hasOwn(TRIGGERS, slug);
}

export function isAction(slug: string): boolean {
  return Object.hasOwn(ACTIONS, slug);
}

/** Whether a device of this model can fire the trigger; every device can go offline. */
export function firesTrigger(model: DeviceModel, slug: TriggerSlug): boolean {
  const { event } = TRIGGERS[slug];
  return event === 'offline' || (CATALOG[model].events as readonly string[]).includes(event);
}

/** Whether a device of this model takes the action's command. */
export function takesAction(model: DeviceModel, slug: string): boolean {
  const action = ACTIONS[slug];
  return action !== undefined && Object.hasOwn(CATALOG[model].commands, action.command);
}
