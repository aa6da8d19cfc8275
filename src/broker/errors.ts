import { DomainError } from '../domain-error.js';

/** Start-up failed for a reason the operator fixes in configuration; the message names the setting. */
export class BrokerStartError extends Error {
  override name = 'BrokerStartError';
}

export function brokerUnavailable(): DomainError {
  return new DomainError('unavailable', 'The MQTT broker is not reachable right now; try again shortly.', {
    code: 'broker-unavailable',
    retryAfterSeconds: 5,
  });
}

/** Turns a listen error into one line naming the variable to change. */
export function listenError(error: unknown, variable: string, host: string, port: number): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new BrokerStartError(
      `${variable} ${port} is already in use on ${host}; set ${variable} to a free port`,
    );
  }
  if (code === 'EACCES') {
    return new BrokerStartError(
      `${variable} ${port} needs more privileges; set ${variable} to 1024 or above`,
    );
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new BrokerStartError(`MQTT_HOST ${host} is not an address of this machine; set MQTT_HOST`);
  }
  return error;
}
