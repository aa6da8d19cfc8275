/**
 * What the operator console offers in its forms. Mirrors src/incidents/categories.ts, src/incidents/model.ts
 * and the device catalog; test/http/console-admin-catalog.test.ts keeps them in step.
 */
export const DATA_CATEGORIES: { id: string; label: string }[] = [
  { id: 'name', label: 'Names' },
  { id: 'email', label: 'E-mail addresses' },
  { id: 'phone', label: 'Phone numbers' },
  { id: 'device-nicknames', label: 'Device nicknames and rooms' },
  { id: 'device-details', label: 'Device details (MAC, serial)' },
  { id: 'wifi-ssids', label: 'Wi-Fi network names' },
  { id: 'ip-addresses', label: 'IP addresses' },
  { id: 'body-metrics', label: 'Body metrics (scale)' },
  { id: 'event-history', label: 'Event history' },
  { id: 'password-hashes', label: 'Password hashes' },
  { id: 'session-tokens', label: 'Session tokens' },
  { id: 'integration-tokens', label: 'Integration tokens' },
  { id: 'device-credentials', label: 'Device credentials' },
];

export const DEVICE_MODELS = ['camera', 'contact-sensor', 'motion-sensor', 'bulb', 'plug', 'scale'];

export type ResponseActionName =
  | 'end-sessions'
  | 'force-reset'
  | 'revoke-integrations'
  | 'rotate-device-credentials'
  | 'rotate-kek';

/** Each response action, what it does in plain words, and the role it needs. */
export const RESPONSE_ACTIONS: {
  id: ResponseActionName;
  label: string;
  hint: string;
  role: 'responder' | 'admin';
}[] = [
  {
    id: 'end-sessions',
    label: 'End sessions',
    hint: 'Signs the affected people out everywhere.',
    role: 'responder',
  },
  {
    id: 'force-reset',
    label: 'Force password reset',
    hint: 'They must choose a new password at their next sign-in.',
    role: 'responder',
  },
  {
    id: 'revoke-integrations',
    label: 'Revoke integrations',
    hint: 'Ends their Alexa, Google and IFTTT links.',
    role: 'responder',
  },
  {
    id: 'rotate-device-credentials',
    label: 'Rotate device credentials',
    hint: 'Voids the credentials of the devices they see; devices pair again.',
    role: 'responder',
  },
  {
    id: 'rotate-kek',
    label: 'Rotate the master key',
    hint: 'Re-wraps every data key under a new key-encryption key (admins only).',
    role: 'admin',
  },
];
