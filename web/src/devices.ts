/**
 * How the console shows each model's state and offers its commands. The commands and their parameters
 * mirror the catalog (src/devices/catalog.ts); test/http/console-catalog.test.ts keeps the two in step.
 */
export type Control =
  | { kind: 'toggle'; command: string; field: string; label: string }
  | {
      kind: 'range';
      command: string;
      param: string;
      field: string;
      label: string;
      min: number;
      max: number;
      step: number;
      unit: string;
    }
  | { kind: 'action'; command: string; label: string };

const toggle = (command: string, field: string, label: string): Control => ({
  kind: 'toggle',
  command,
  field,
  label,
});

export const MODELS: Record<string, { title: string; controls: Control[] }> = {
  camera: {
    title: 'Camera',
    controls: [
      toggle('set-night-vision', 'nightVision', 'Night vision'),
      toggle('set-recording', 'recording', 'Recording'),
      { kind: 'action', command: 'take-snapshot', label: 'Take a snapshot' },
    ],
  },
  'contact-sensor': { title: 'Contact sensor', controls: [] },
  'motion-sensor': { title: 'Motion sensor', controls: [] },
  bulb: {
    title: 'Bulb',
    controls: [
      toggle('switch', 'on', 'Power'),
      {
        kind: 'range',
        command: 'set-brightness',
        param: 'brightness',
        field: 'brightness',
        label: 'Brightness',
        min: 1,
        max: 100,
        step: 1,
        unit: '%',
      },
      {
        kind: 'range',
        command: 'set-color-temperature',
        param: 'kelvin',
        field: 'colorTemperature',
        label: 'Colour temperature',
        min: 2700,
        max: 6500,
        step: 100,
        unit: ' K',
      },
    ],
  },
  plug: { title: 'Plug', controls: [toggle('switch', 'on', 'Power')] },
  scale: { title: 'Body-composition scale', controls: [] },
};

const onOff = (value: unknown) => (value ? 'On' : 'Off');
const unit = (suffix: string) => (value: unknown) => `${String(value)}${suffix}`;

/** The reported fields people care about, in the order they are shown. */
export const STATE_FIELDS: { field: string; label: string; format: (value: unknown) => string }[] = [
  { field: 'on', label: 'Power', format: onOff },
  { field: 'contact', label: 'Door or window', format: (value) => (value === 'open' ? 'Open' : 'Closed') },
  { field: 'motion', label: 'Motion', format: (value) => (value ? 'Motion detected' : 'No motion') },
  { field: 'brightness', label: 'Brightness', format: unit('%') },
  { field: 'colorTemperature', label: 'Colour temperature', format: unit(' K') },
  { field: 'powerW', label: 'Power draw', format: unit(' W') },
  { field: 'energyKwh', label: 'Energy used', format: unit(' kWh') },
  { field: 'nightVision', label: 'Night vision', format: onOff },
  { field: 'recording', label: 'Recording', format: onOff },
  { field: 'battery', label: 'Battery', format: unit('%') },
];
