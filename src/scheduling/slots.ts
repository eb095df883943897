import { DateTime, Interval } from 'luxon';
import { DAYS, type Availability, type LocalTimeRange } from './availability.js';

/**
 * Availability rules → the slot instants of a period. Pure: no clock, no storage. Weekly hours are wall-clock
 * times in the schedule's zone, so 09:00 stays 09:00 local on both sides of a daylight-saving change; Luxon
 * does the zone arithmetic (a rule time that does not exist on a spring-forward day moves to the first time
 * that does; a repeated autumn hour is counted once, by elapsed time).
 */

export interface SlotTime {
  /** UTC instants, ISO 8601 with Z and milliseconds stripped */
  start: string;
  end: string;
}

export function generateSlotTimes(availability: Availability, from: Date, to: Date): SlotTime[] {
  const zone = availability.timeZone;
  const window = Interval.fromDateTimes(DateTime.fromJSDate(from), DateTime.fromJSDate(to));
  if (!window.isValid) return [];
  const blocked = availability.exceptions.map((x) =>
    'date' in x
      ? Interval.fromDateTimes(DateTime.fromISO(x.date, { zone }).startOf('day'), DateTime.fromISO(x.date, { zone }).plus({ days: 1 }).startOf('day'))
      : Interval.fromDateTimes(DateTime.fromISO(x.start), DateTime.fromISO(x.end)),
  );
  const slots: SlotTime[] = [];
  // One day before and after the window, in local days, so a rule near midnight in a far zone is not lost.
  const lastDay = DateTime.fromJSDate(to, { zone }).plus({ days: 1 }).startOf('day');
  for (let day = DateTime.fromJSDate(from, { zone }).minus({ days: 1 }).startOf('day'); day < lastDay; day = day.plus({ days: 1 })) {
    const code = DAYS[day.weekday - 1];
    const open = availability.weeklyHours.filter((r) => r.days.includes(code)).map((r) => localInterval(day, r));
    const closed = [
      ...availability.breaks.filter((r) => r.days.includes(code)).map((r) => localInterval(day, r)),
      ...blocked,
    ];
    for (const interval of Interval.merge(open)) {
      for (const free of interval.difference(...closed)) {
        // Within a working interval slots follow each other in elapsed time, so the zone is not needed
        // any more: plain epoch milliseconds (Luxon's zone lookups per step would dominate the cost).
        const step = availability.slotMinutes * 60_000;
        const [lo, hi] = [window.start!.toMillis(), window.end!.toMillis()];
        for (let t = free.start!.toMillis(); t + step <= free.end!.toMillis(); t += step) {
          if (t < lo || t + step > hi) continue;
          slots.push({ start: isoSeconds(t), end: isoSeconds(t + step) });
        }
      }
    }
  }
  slots.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  // Two weekly rules that overlap produce the same slot twice; keep one.
  return slots.filter((s, i) => i === 0 || s.start !== slots[i - 1].start);
}

function localInterval(day: DateTime, range: LocalTimeRange): Interval {
  return Interval.fromDateTimes(atLocalTime(day, range.start), atLocalTime(day, range.end));
}

function atLocalTime(day: DateTime, time: string): DateTime {
  const [hour, minute, second] = time.split(':').map(Number);
  return day.set({ hour, minute, second, millisecond: 0 });
}

/** The one spelling of an instant in stored Slots and Appointments: UTC, seconds, Z. */
export function instant(t: DateTime | Date | string): string {
  const dt = typeof t === 'string' ? DateTime.fromISO(t) : t instanceof Date ? DateTime.fromJSDate(t) : t;
  return dt.toUTC().toISO({ suppressMilliseconds: true })!;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
