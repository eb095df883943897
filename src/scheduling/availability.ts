import { createHash } from 'node:crypto';
import type { Coding, Duration, Extension, Schedule } from '@medplum/fhirtypes';
import { DateTime, IANAZone } from 'luxon';
import { unprocessable } from '../fhir/outcomes.js';
import { AVAILABILITY_EXTENSION, TIMEZONE_EXTENSION, UCUM, VISIT_TYPE_SYSTEM } from './fhir.js';

/**
 * A practitioner's availability, as the Schedule carries it in FHIR:
 *
 *   Schedule.extension[timezone].valueCode = "Europe/Berlin"           (IANA; all times below are wall-clock there)
 *   Schedule.extension[schedule-availability]
 *     slotDuration  valueDuration (min)     granularity of the materialized Slots (default 15)
 *     buffer        valueDuration (min)     kept free before and after every visit (default 0)
 *     weeklyHours*  daysOfWeek* (valueCode mon…sun), startTime, endTime (valueTime)
 *     break*        daysOfWeek* (none = every day), startTime, endTime
 *     visitType*    type (valueCoding), duration (valueDuration, min), video (valueBoolean)
 *     exception*    date (valueDate: a whole local day) | period (valuePeriod), reason (valueString)
 *
 * The first visitType is the default of $find. Rules are plain data here: slots.ts turns them into instants.
 */

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type DayOfWeek = (typeof DAYS)[number];

export interface LocalTimeRange {
  days: DayOfWeek[];
  /** HH:mm:ss, wall-clock in the schedule's zone */
  start: string;
  end: string;
}

export interface VisitType {
  type: Coding;
  durationMinutes: number;
  video: boolean;
}

export type AvailabilityException = { date: string; reason?: string } | { start: string; end: string; reason?: string };

export interface Availability {
  timeZone: string;
  slotMinutes: number;
  bufferMinutes: number;
  weeklyHours: LocalTimeRange[];
  breaks: LocalTimeRange[];
  visitTypes: VisitType[];
  exceptions: AvailabilityException[];
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Reads the rules off a Schedule; 422 with the FHIRPath of the first bad element. */
export function readAvailability(schedule: Schedule): Availability {
  const zone = schedule.extension?.find((e) => e.url === TIMEZONE_EXTENSION)?.valueCode;
  if (!zone) throw unprocessable('The Schedule has no time zone extension', `Schedule.extension('${TIMEZONE_EXTENSION}')`);
  if (!IANAZone.isValidZone(zone)) throw unprocessable(`'${zone}' is not an IANA time zone`, `Schedule.extension('${TIMEZONE_EXTENSION}').value`);
  const root = schedule.extension?.find((e) => e.url === AVAILABILITY_EXTENSION);
  const at = (name: string) => `Schedule.extension('${AVAILABILITY_EXTENSION}').extension('${name}')`;
  if (!root) throw unprocessable('The Schedule has no availability extension', `Schedule.extension('${AVAILABILITY_EXTENSION}')`);
  const subs = root.extension ?? [];
  const all = (name: string) => subs.filter((e) => e.url === name);

  const slotMinutes = minutes(all('slotDuration')[0]?.valueDuration, at('slotDuration')) ?? 15;
  if (slotMinutes < 5 || slotMinutes > 240) throw unprocessable('slotDuration must be between 5 and 240 minutes', at('slotDuration'));
  const bufferMinutes = minutes(all('buffer')[0]?.valueDuration, at('buffer')) ?? 0;
  if (bufferMinutes < 0 || bufferMinutes > 240) throw unprocessable('buffer must be between 0 and 240 minutes', at('buffer'));

  const weeklyHours = all('weeklyHours').map((e) => timeRange(e, at('weeklyHours'), true));
  const breaks = all('break').map((e) => timeRange(e, at('break'), false));
  const visitTypes = all('visitType').map((e): VisitType => {
    const type = sub(e, 'type')?.valueCoding;
    if (!type?.code) throw unprocessable('A visitType needs a type coding with a code', `${at('visitType')}.extension('type')`);
    const durationMinutes = minutes(sub(e, 'duration')?.valueDuration, `${at('visitType')}.extension('duration')`);
    if (!durationMinutes || durationMinutes < 5 || durationMinutes > 480) {
      throw unprocessable('A visitType needs a duration between 5 and 480 minutes', `${at('visitType')}.extension('duration')`);
    }
    return { type, durationMinutes, video: sub(e, 'video')?.valueBoolean ?? false };
  });
  if (visitTypes.length === 0) throw unprocessable('The availability needs at least one visitType', at('visitType'));
  const exceptions = all('exception').map((e): AvailabilityException => {
    const reason = sub(e, 'reason')?.valueString;
    const date = sub(e, 'date')?.valueDate;
    if (date) {
      if (!DATE.test(date)) throw unprocessable('An exception date must be a full date', `${at('exception')}.extension('date')`);
      return reason ? { date, reason } : { date };
    }
    const period = sub(e, 'period')?.valuePeriod;
    if (!period?.start || !period.end) throw unprocessable('An exception needs a date or a period with start and end', at('exception'));
    const start = DateTime.fromISO(period.start, { zone });
    const end = DateTime.fromISO(period.end, { zone });
    if (!start.isValid || !end.isValid || end <= start) throw unprocessable('An exception period must end after it starts', `${at('exception')}.extension('period')`);
    return { start: start.toUTC().toISO()!, end: end.toUTC().toISO()!, ...(reason ? { reason } : {}) };
  });
  return { timeZone: zone, slotMinutes, bufferMinutes, weeklyHours, breaks, visitTypes, exceptions };
}

/** The Schedule extensions for these rules (timezone + availability), replacing earlier ones. */
export function withAvailability(schedule: Schedule, availability: Availability): Schedule {
  const others = (schedule.extension ?? []).filter((e) => e.url !== TIMEZONE_EXTENSION && e.url !== AVAILABILITY_EXTENSION);
  const range = (url: string, r: LocalTimeRange): Extension => ({
    url,
    extension: [
      ...r.days.map((d) => ({ url: 'daysOfWeek', valueCode: d })),
      { url: 'startTime', valueTime: withSeconds(r.start) },
      { url: 'endTime', valueTime: withSeconds(r.end) },
    ],
  });
  const subs: Extension[] = [
    { url: 'slotDuration', valueDuration: duration(availability.slotMinutes) },
    { url: 'buffer', valueDuration: duration(availability.bufferMinutes) },
    ...availability.weeklyHours.map((r) => range('weeklyHours', r)),
    ...availability.breaks.map((r) => range('break', r)),
    ...availability.visitTypes.map((v) => ({
      url: 'visitType',
      extension: [
        { url: 'type', valueCoding: v.type },
        { url: 'duration', valueDuration: duration(v.durationMinutes) },
        { url: 'video', valueBoolean: v.video },
      ],
    })),
    ...availability.exceptions.map((x) => ({
      url: 'exception',
      extension: [
        'date' in x ? { url: 'date', valueDate: x.date } : { url: 'period', valuePeriod: { start: x.start, end: x.end } },
        ...(x.reason ? [{ url: 'reason', valueString: x.reason }] : []),
      ],
    })),
  ];
  return {
    ...schedule,
    extension: [...others, { url: TIMEZONE_EXTENSION, valueCode: availability.timeZone }, { url: AVAILABILITY_EXTENSION, extension: subs }],
  };
}

/** A fingerprint of the rules: Slots are regenerated when it changes. */
export function availabilityHash(availability: Availability): string {
  return createHash('sha256').update(JSON.stringify(availability)).digest('base64url').slice(0, 22);
}

export function visitTypeCoding(code: string, display?: string): Coding {
  return display ? { system: VISIT_TYPE_SYSTEM, code, display } : { system: VISIT_TYPE_SYSTEM, code };
}

export function duration(mins: number): Duration {
  return { value: mins, unit: 'min', system: UCUM, code: 'min' };
}

function sub(e: Extension, url: string): Extension | undefined {
  return e.extension?.find((x) => x.url === url);
}

function timeRange(e: Extension, path: string, needsDays: boolean): LocalTimeRange {
  const days = (e.extension ?? []).filter((x) => x.url === 'daysOfWeek').map((x) => x.valueCode);
  for (const d of days) {
    if (!DAYS.includes(d as DayOfWeek)) throw unprocessable(`'${d}' is not a day of week (mon…sun)`, `${path}.extension('daysOfWeek')`);
  }
  if (needsDays && days.length === 0) throw unprocessable('weeklyHours need at least one daysOfWeek', `${path}.extension('daysOfWeek')`);
  const start = sub(e, 'startTime')?.valueTime;
  const end = sub(e, 'endTime')?.valueTime;
  if (!start || !TIME.test(start)) throw unprocessable('startTime must be a time (HH:mm:ss)', `${path}.extension('startTime')`);
  if (!end || !TIME.test(end)) throw unprocessable('endTime must be a time (HH:mm:ss)', `${path}.extension('endTime')`);
  if (withSeconds(end) <= withSeconds(start)) throw unprocessable(`endTime ${end} must be after startTime ${start}`, `${path}.extension('endTime')`);
  return { days: (days.length > 0 ? days : [...DAYS]) as DayOfWeek[], start: withSeconds(start), end: withSeconds(end) };
}

function withSeconds(t: string): string {
  return t.length === 5 ? `${t}:00` : t;
}

function minutes(d: Duration | undefined, path: string): number | undefined {
  if (!d) return undefined;
  const unit = d.code ?? d.unit;
  const factor = unit === 'min' ? 1 : unit === 'h' ? 60 : undefined;
  if (factor === undefined || typeof d.value !== 'number' || !Number.isFinite(d.value)) {
    throw unprocessable('A duration must be given in min or h', path);
  }
  return Math.round(d.value * factor);
}
