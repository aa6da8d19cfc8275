import { expect } from 'vitest';
import type { Measurement } from '../../src/devices/catalog.js';
import type { Caller } from '../homes/helpers.js';
import type { TestHttp } from '../http/build.js';

export const ADA_PROFILE = { name: 'Ada Lovelace', heightCm: 168, birthDate: '1985-12-10', sex: 'female' };

export interface ProfileView {
  id: string;
  homeId: string;
  userId: string | null;
  name: string;
  heightCm: number;
  consentGivenAt: string | null;
  consentGivenBy: string | null;
}

export interface ReadingView {
  id: string;
  profileId: string;
  deviceId: string | null;
  measuredAt: string;
  weightKg: number;
  bmi: number;
  bodyFatPct?: number;
}

export async function createProfile(
  http: TestHttp,
  user: Caller,
  homeId: string,
  body: Record<string, unknown> = ADA_PROFILE,
): Promise<ProfileView> {
  const response = await http.app.inject({
    method: 'POST',
    url: `/v1/homes/${homeId}/body-profiles`,
    headers: user.headers,
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json() as ProfileView;
}

export async function giveConsent(http: TestHttp, user: Caller, profileId: string): Promise<ProfileView> {
  const response = await http.app.inject({
    method: 'PUT',
    url: `/v1/body-profiles/${profileId}/consent`,
    headers: user.headers,
    payload: { consent: true },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as ProfileView;
}

export function readings(http: TestHttp, user: Caller, profileId: string, query = '') {
  return http.app.inject({
    method: 'GET',
    url: `/v1/body-profiles/${profileId}/readings${query}`,
    headers: user.headers,
  });
}

/** Hands measurements to the scale service the way the ingest pipeline does, in one batch. */
export function record(
  http: TestHttp,
  device: { id: string; homeId: string },
  measurements: { measurement: Measurement; measuredAt: Date }[],
) {
  return http.services.scale.recordMeasurements(measurements.map((m) => ({ device, ...m })));
}
