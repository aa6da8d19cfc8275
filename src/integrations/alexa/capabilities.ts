import { z } from 'zod';
import { CATALOG, type DeviceModel } from '../../devices/catalog.js';
import { clamp, commandParamRange, inRange, type NumberRange } from '../catalog-ranges.js';
import type { ExposedDevice, ExposedState } from '../exposed-devices.js';
import { type AlexaFailure, failure } from './messages.js';

/** What a control directive asks of the device: a catalog command and its params. */
export interface DeviceCommand {
  command: string;
  params: Record<string, unknown>;
}

type DirectiveMapper = (
  payload: Record<string, unknown>,
  device: ExposedState,
) => DeviceCommand | AlexaFailure;

/** One Alexa interface: the properties it reports and the directives it takes. */
interface AlexaInterface {
  properties: { name: string; read(device: ExposedState): unknown }[];
  directives: Record<string, DirectiveMapper>;
}

export type AlexaInterfaceName =
  | 'Alexa.PowerController'
  | 'Alexa.BrightnessController'
  | 'Alexa.ColorTemperatureController'
  | 'Alexa.ContactSensor'
  | 'Alexa.MotionSensor'
  | 'Alexa.EndpointHealth';

/** How each model appears to Alexa. Models absent here (the scale) are never discovered. */
export const ALEXA_MODELS: Partial<
  Record<DeviceModel, { displayCategories: string[]; interfaces: AlexaInterfaceName[] }>
> = {
  bulb: {
    displayCategories: ['LIGHT'],
    interfaces: ['Alexa.PowerController', 'Alexa.BrightnessController', 'Alexa.ColorTemperatureController'],
  },
  plug: { displayCategories: ['SMARTPLUG'], interfaces: ['Alexa.PowerController'] },
  'contact-sensor': { displayCategories: ['CONTACT_SENSOR'], interfaces: ['Alexa.ContactSensor'] },
  'motion-sensor': { displayCategories: ['MOTION_SENSOR'], interfaces: ['Alexa.MotionSensor'] },
  // Only its motion: the camera's video never reaches the cloud, so there is no stream to offer.
  camera: { displayCategories: ['MOTION_SENSOR'], interfaces: ['Alexa.MotionSensor'] },
};

const BRIGHTNESS = commandParamRange('bulb', 'set-brightness', 'brightness');
const KELVIN = commandParamRange('bulb', 'set-color-temperature', 'kelvin');
/** Alexa lets the skill pick the step of "warmer" and "cooler". */
export const KELVIN_STEP = 500;

/** Reported state first; the last command's desired state while no report has come. */
function current(device: ExposedState, field: string): unknown {
  return device.state[field] ?? device.desired[field];
}

const integer = z.number().int();

function numberIn(payload: Record<string, unknown>, field: string): number | AlexaFailure {
  const parsed = integer.safeParse(payload[field]);
  return parsed.success ? parsed.data : failure('INVALID_VALUE', `${field} must be a whole number.`);
}

function outOfRange(what: string, range: NumberRange): AlexaFailure {
  return failure('VALUE_OUT_OF_RANGE', `${what} must be ${range.min}–${range.max}.`, {
    minimumValue: range.min,
    maximumValue: range.max,
  });
}

const detection = (field: string, detected: unknown) => (device: ExposedState) => {
  const value = device.state[field];
  return value === undefined ? undefined : value === detected ? 'DETECTED' : 'NOT_DETECTED';
};

function adjustKelvin(sign: 1 | -1): DirectiveMapper {
  return (_payload, device) => {
    const now = current(device, 'colorTemperature');
    const from = typeof now === 'number' ? now : Math.round((KELVIN.min + KELVIN.max) / 2);
    return { command: 'set-color-temperature', params: { kelvin: clamp(from + sign * KELVIN_STEP, KELVIN) } };
  };
}

const INTERFACES: Record<AlexaInterfaceName, AlexaInterface> = {
  'Alexa.PowerController': {
    properties: [
      {
        name: 'powerState',
        read: (device) => {
          const on = current(device, 'on');
          return typeof on === 'boolean' ? (on ? 'ON' : 'OFF') : undefined;
        },
      },
    ],
    directives: {
      TurnOn: () => ({ command: 'switch', params: { on: true } }),
      TurnOff: () => ({ command: 'switch', params: { on: false } }),
    },
  },
  'Alexa.BrightnessController': {
    properties: [{ name: 'brightness', read: (device) => current(device, 'brightness') }],
    directives: {
      SetBrightness: (payload) => {
        const brightness = numberIn(payload, 'brightness');
        if (typeof brightness !== 'number') return brightness;
        if (!inRange(brightness, BRIGHTNESS)) return outOfRange('brightness', BRIGHTNESS);
        return { command: 'set-brightness', params: { brightness } };
      },
      AdjustBrightness: (payload, device) => {
        const delta = numberIn(payload, 'brightnessDelta');
        if (typeof delta !== 'number') return delta;
        if (delta < -100 || delta > 100) {
          return outOfRange('brightnessDelta', { min: -100, max: 100 });
        }
        const now = current(device, 'brightness');
        const from = typeof now === 'number' ? now : BRIGHTNESS.max;
        return { command: 'set-brightness', params: { brightness: clamp(from + delta, BRIGHTNESS) } };
      },
    },
  },
  'Alexa.ColorTemperatureController': {
    properties: [{ name: 'colorTemperatureInKelvin', read: (device) => current(device, 'colorTemperature') }],
    directives: {
      SetColorTemperature: (payload) => {
        const kelvin = numberIn(payload, 'colorTemperatureInKelvin');
        if (typeof kelvin !== 'number') return kelvin;
        if (!inRange(kelvin, KELVIN)) return outOfRange('colorTemperatureInKelvin', KELVIN);
        return { command: 'set-color-temperature', params: { kelvin } };
      },
      IncreaseColorTemperature: adjustKelvin(1),
      DecreaseColorTemperature: adjustKelvin(-1),
    },
  },
  // Contact: DETECTED means the two parts are apart, i.e. open.
  'Alexa.ContactSensor': {
    properties: [{ name: 'detectionState', read: detection('contact', 'open') }],
    directives: {},
  },
  'Alexa.MotionSensor': {
    properties: [{ name: 'detectionState', read: detection('motion', true) }],
    directives: {},
  },
  'Alexa.EndpointHealth': {
    properties: [
      { name: 'connectivity', read: (device) => ({ value: device.connected ? 'OK' : 'UNREACHABLE' }) },
    ],
    directives: {},
  },
};

/** The interfaces of a model, EndpointHealth last (every endpoint has it); none for a model Alexa never sees. */
export function interfacesOf(model: DeviceModel): AlexaInterfaceName[] {
  const mapping = ALEXA_MODELS[model];
  return mapping ? [...mapping.interfaces, 'Alexa.EndpointHealth'] : [];
}

export function isDiscoverable(model: DeviceModel): boolean {
  return ALEXA_MODELS[model] !== undefined;
}

/** The Discover.Response endpoint object of one device. */
export function discoveryEndpoint(device: ExposedDevice) {
  const mapping = ALEXA_MODELS[device.model];
  if (!mapping) throw new Error(`Alexa has no mapping for ${device.model}`);
  const title = CATALOG[device.model].title;
  return {
    endpointId: device.id,
    manufacturerName: 'Hearth',
    description: `${title} by Hearth`,
    friendlyName: device.nickname ?? title,
    displayCategories: mapping.displayCategories,
    additionalAttributes: { manufacturer: 'Hearth', model: title, firmwareVersion: device.firmware },
    capabilities: [
      { type: 'AlexaInterface', interface: 'Alexa', version: '3' },
      ...interfacesOf(device.model).map((name) => ({
        type: 'AlexaInterface',
        interface: name,
        version: '3',
        properties: {
          supported: INTERFACES[name].properties.map((property) => ({ name: property.name })),
          proactivelyReported: true,
          retrievable: true,
        },
      })),
    ],
  };
}

/** Every known property of the device, as `context.properties` carries them. */
export function propertiesOf(
  device: ExposedState,
  sample: { timeOfSample: string; uncertaintyInMilliseconds: number },
) {
  return interfacesOf(device.model).flatMap((namespace) =>
    INTERFACES[namespace].properties.flatMap((property) => {
      const value = property.read(device);
      return value === undefined ? [] : [{ namespace, name: property.name, value, ...sample }];
    }),
  );
}

/**
 * The command a control directive asks for; a failure when the device's interfaces do not take it or its
 * payload is not acceptable.
 */
export function commandFor(
  namespace: string,
  name: string,
  payload: Record<string, unknown>,
  device: ExposedState,
): DeviceCommand | AlexaFailure {
  const supported = interfacesOf(device.model) as string[];
  const mapper = supported.includes(namespace)
    ? INTERFACES[namespace as AlexaInterfaceName].directives[name]
    : undefined;
  if (!mapper || !Object.hasOwn(INTERFACES[namespace as AlexaInterfaceName].directives, name)) {
    return failure('INVALID_DIRECTIVE', `This endpoint does not support ${namespace}.${name}.`);
  }
  return mapper(payload, device);
}

export function isFailure(value: DeviceCommand | AlexaFailure): value is AlexaFailure {
  return 'type' in value;
}
