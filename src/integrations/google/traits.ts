import { z } from 'zod';
import { CATALOG, type DeviceModel } from '../../devices/catalog.js';
import { clamp, commandParamRange, inRange } from '../catalog-ranges.js';
import type { ExposedDevice } from '../exposed-devices.js';

const TYPE = 'action.devices.types.';
const TRAIT = 'action.devices.traits.';
const COMMAND = 'action.devices.commands.';

/** What an EXECUTE command asks of the device, or the error code Google should hear instead. */
export type CommandMapping =
  | { command: string; params: Record<string, unknown> }
  | { errorCode: 'valueOutOfRange' | 'functionNotSupported' | 'protocolError' };

type CommandMapper = (params: Record<string, unknown>, device: ExposedDevice) => CommandMapping;

/** One Google trait: its SYNC attributes, its QUERY states, the EXECUTE commands it takes. */
interface GoogleTrait {
  attributes: Record<string, unknown>;
  states(device: ExposedDevice): Record<string, unknown>;
  commands: Record<string, CommandMapper>;
}

export type GoogleTraitName = 'OnOff' | 'Brightness' | 'ColorSetting' | 'OpenClose' | 'OccupancySensing';

/** How each model appears to Google. Models absent here (the scale) are never synced. */
export const GOOGLE_MODELS: Partial<Record<DeviceModel, { type: string; traits: GoogleTraitName[] }>> = {
  bulb: { type: 'LIGHT', traits: ['OnOff', 'Brightness', 'ColorSetting'] },
  plug: { type: 'OUTLET', traits: ['OnOff'] },
  'contact-sensor': { type: 'SENSOR', traits: ['OpenClose'] },
  'motion-sensor': { type: 'SENSOR', traits: ['OccupancySensing'] },
  // Its motion only: the video never reaches the cloud, so there is no CameraStream to offer.
  camera: { type: 'SENSOR', traits: ['OccupancySensing'] },
};

const BRIGHTNESS = commandParamRange('bulb', 'set-brightness', 'brightness');
const KELVIN = commandParamRange('bulb', 'set-color-temperature', 'kelvin');
/** One step of "a little brighter" (brightnessRelativeWeight), in percent. */
export const BRIGHTNESS_WEIGHT_STEP = 10;

function current(device: ExposedDevice, field: string): unknown {
  return device.state[field] ?? device.desired[field];
}

const defined = (entries: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined));

const integer = z.number().int();
const invalid = { errorCode: 'protocolError' } as const;
const outOfRange = { errorCode: 'valueOutOfRange' } as const;

const TRAITS: Record<GoogleTraitName, GoogleTrait> = {
  OnOff: {
    attributes: {},
    states: (device) => defined({ on: current(device, 'on') }),
    commands: {
      OnOff: (params) =>
        typeof params.on === 'boolean' ? { command: 'switch', params: { on: params.on } } : invalid,
    },
  },
  Brightness: {
    attributes: {},
    states: (device) => defined({ brightness: current(device, 'brightness') }),
    commands: {
      BrightnessAbsolute: (params) => {
        const parsed = integer.safeParse(params.brightness);
        if (!parsed.success) return invalid;
        if (!inRange(parsed.data, BRIGHTNESS)) return outOfRange;
        return { command: 'set-brightness', params: { brightness: parsed.data } };
      },
      BrightnessRelative: (params, device) => {
        const percent = integer.safeParse(params.brightnessRelativePercent);
        const weight = integer.safeParse(params.brightnessRelativeWeight);
        const delta = percent.success
          ? percent.data
          : weight.success
            ? weight.data * BRIGHTNESS_WEIGHT_STEP
            : undefined;
        if (delta === undefined) return invalid;
        const now = current(device, 'brightness');
        const from = typeof now === 'number' ? now : BRIGHTNESS.max;
        return { command: 'set-brightness', params: { brightness: clamp(from + delta, BRIGHTNESS) } };
      },
    },
  },
  ColorSetting: {
    attributes: { colorTemperatureRange: { temperatureMinK: KELVIN.min, temperatureMaxK: KELVIN.max } },
    // The state is `temperatureK`, the command's param `temperature` (Google's own asymmetry).
    states: (device) => {
      const kelvin = current(device, 'colorTemperature');
      return kelvin === undefined ? {} : { color: { temperatureK: kelvin } };
    },
    commands: {
      ColorAbsolute: (params) => {
        const color = params.color as Record<string, unknown> | undefined;
        if (color?.temperature === undefined) {
          // spectrumRGB / spectrumHSV: these bulbs only have white tones.
          return color && typeof color === 'object' ? { errorCode: 'functionNotSupported' } : invalid;
        }
        const parsed = integer.safeParse(color.temperature);
        if (!parsed.success) return invalid;
        if (!inRange(parsed.data, KELVIN)) return outOfRange;
        return { command: 'set-color-temperature', params: { kelvin: parsed.data } };
      },
    },
  },
  OpenClose: {
    attributes: { discreteOnlyOpenClose: true, queryOnlyOpenClose: true },
    states: (device) => {
      const contact = device.state.contact;
      return contact === undefined ? {} : { openPercent: contact === 'open' ? 100 : 0 };
    },
    commands: {},
  },
  OccupancySensing: {
    attributes: { occupancySensorConfiguration: [{ occupancySensorType: 'PIR' }] },
    states: (device) => {
      const motion = device.state.motion;
      return {
        occupancy:
          motion === undefined ? 'UNKNOWN_OCCUPANCY_STATE' : motion === true ? 'OCCUPIED' : 'UNOCCUPIED',
      };
    },
    commands: {},
  },
};

export function isSyncable(model: DeviceModel): boolean {
  return GOOGLE_MODELS[model] !== undefined;
}

/** The SYNC device object of one device. */
export function syncDevice(device: ExposedDevice, willReportState: boolean) {
  const mapping = GOOGLE_MODELS[device.model];
  if (!mapping) throw new Error(`Google has no mapping for ${device.model}`);
  const title = CATALOG[device.model].title;
  return {
    id: device.id,
    type: `${TYPE}${mapping.type}`,
    traits: mapping.traits.map((trait) => `${TRAIT}${trait}`),
    name: { defaultNames: [`Hearth ${title}`], name: device.nickname ?? title },
    willReportState,
    ...(device.room ? { roomHint: device.room } : {}),
    deviceInfo: { manufacturer: 'Hearth', model: title, swVersion: device.firmware },
    attributes: Object.assign({}, ...mapping.traits.map((trait) => TRAITS[trait].attributes)),
  };
}

/** Every state of the device's traits, with `online`. */
export function statesOf(device: ExposedDevice): Record<string, unknown> {
  const traits = GOOGLE_MODELS[device.model]?.traits ?? [];
  return Object.assign({ online: device.connected }, ...traits.map((trait) => TRAITS[trait].states(device)));
}

/** Maps an EXECUTE command (e.g. `action.devices.commands.OnOff`) for this device. */
export function commandFor(
  name: string,
  params: Record<string, unknown>,
  device: ExposedDevice,
): CommandMapping {
  const short = name.startsWith(COMMAND) ? name.slice(COMMAND.length) : undefined;
  const traits = GOOGLE_MODELS[device.model]?.traits ?? [];
  for (const trait of traits) {
    const { commands } = TRAITS[trait];
    if (short && Object.hasOwn(commands, short)) return (commands[short] as CommandMapper)(params, device);
  }
  return { errorCode: 'functionNotSupported' };
}
