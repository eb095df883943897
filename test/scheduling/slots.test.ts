import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { readAvailability, withAvailability } from '../../src/scheduling/availability.js';
import { AVAILABILITY_EXTENSION, TIMEZONE_EXTENSION } from '../../src/scheduling/fhir.js';
import { generateSlotTimes } from '../../src/scheduling/slots.js';
import { loadValidationDefinitions, validateResource } from '../../src/fhir/validation/validate.js';
import { weekdayAvailability } from './support.js';

const utc = (s: string) => new Date(s);
const local = (iso: string, zone: string) => DateTime.fromISO(iso, { zone: 'utc' }).setZone(zone).toFormat("ccc yyyy-MM-dd HH:mm");

describe('availability rules → slots', () => {
  it('stores the rules as valid FHIR on the Schedule and reads them back unchanged', () => {
    loadValidationDefinitions();
    const rules = weekdayAvailability('Europe/Berlin', { bufferMinutes: 10, exceptions: [{ date: '2027-01-06', reason: 'Epiphany' }] });
    const schedule = withAvailability({ resourceType: 'Schedule', actor: [{ reference: 'Practitioner/p1' }] }, rules);
    expect(() => validateResource(schedule)).not.toThrow();
    expect(schedule.extension?.find((e) => e.url === TIMEZONE_EXTENSION)?.valueCode).toBe('Europe/Berlin');
    expect(readAvailability(schedule)).toEqual(rules);
  });

  it('cuts working hours into slots, leaving out breaks and weekends', () => {
    const slots = generateSlotTimes(weekdayAvailability('UTC'), utc('2027-01-08T00:00:00Z'), utc('2027-01-11T00:00:00Z')); // Fri–Sun
    expect(slots).toHaveLength(28); // 7 h × 4
    expect(slots[0]).toEqual({ start: '2027-01-08T09:00:00Z', end: '2027-01-08T09:15:00Z' });
    expect(slots.some((s) => s.start === '2027-01-08T12:00:00Z')).toBe(false);
    expect(slots.at(-1)).toEqual({ start: '2027-01-08T16:45:00Z', end: '2027-01-08T17:00:00Z' });
  });

  it('leaves out whole-day holidays (in the local day) and one-off blocks', () => {
    const rules = weekdayAvailability('America/New_York', {
      exceptions: [
        { date: '2027-01-05', reason: 'Holiday' },
        { start: '2027-01-06T14:00:00Z', end: '2027-01-06T15:00:00Z', reason: 'Team meeting' }, // 09:00–10:00 local
      ],
    });
    const slots = generateSlotTimes(rules, utc('2027-01-05T00:00:00Z'), utc('2027-01-07T05:00:00Z'));
    expect(slots.filter((s) => local(s.start, 'America/New_York').includes('2027-01-05'))).toHaveLength(0);
    const wednesday = slots.filter((s) => local(s.start, 'America/New_York').includes('2027-01-06'));
    expect(wednesday).toHaveLength(24);
    expect(local(wednesday[0].start, 'America/New_York')).toBe('Wed 2027-01-06 10:00');
  });

  it('rejects rules that end before they start, unknown zones and missing visit types (422 with the element)', () => {
    const bad = withAvailability({ resourceType: 'Schedule', actor: [] }, weekdayAvailability('UTC'));
    const root = bad.extension!.find((e) => e.url === AVAILABILITY_EXTENSION)!;
    const hours = root.extension!.find((e) => e.url === 'weeklyHours')!;
    hours.extension!.find((e) => e.url === 'endTime')!.valueTime = '08:00:00';
    expect(() => readAvailability(bad)).toThrow(/endTime 08:00:00 must be after startTime 09:00:00/);
    const zone = withAvailability({ resourceType: 'Schedule', actor: [] }, weekdayAvailability('Mars/Olympus'));
    expect(() => readAvailability(zone)).toThrow(/not an IANA time zone/);
    const none = withAvailability({ resourceType: 'Schedule', actor: [] }, weekdayAvailability('UTC', { visitTypes: [] }));
    expect(() => readAvailability(none)).toThrow(/at least one visitType/);
  });
});

describe('daylight-saving changes keep the local wall-clock time', () => {
  const firstSlotPerDay = (zone: string, from: string, to: string) => {
    const slots = generateSlotTimes(weekdayAvailability(zone, { breaks: [] }), utc(from), utc(to));
    const byDay = new Map<string, string>();
    for (const s of slots) {
      const day = DateTime.fromISO(s.start).setZone(zone).toISODate()!;
      if (!byDay.has(day)) byDay.set(day, s.start);
    }
    return byDay;
  };

  it('America/New_York, March (EST → EDT on 2027-03-14)', () => {
    const days = firstSlotPerDay('America/New_York', '2027-03-12T00:00:00Z', '2027-03-16T00:00:00Z');
    expect(days.get('2027-03-12')).toBe('2027-03-12T14:00:00Z'); // Fri 09:00 EST
    expect(days.get('2027-03-15')).toBe('2027-03-15T13:00:00Z'); // Mon 09:00 EDT
  });

  it('America/New_York, November (EDT → EST on 2027-11-07)', () => {
    const days = firstSlotPerDay('America/New_York', '2027-11-05T00:00:00Z', '2027-11-09T00:00:00Z');
    expect(days.get('2027-11-05')).toBe('2027-11-05T13:00:00Z');
    expect(days.get('2027-11-08')).toBe('2027-11-08T14:00:00Z');
  });

  it('Europe/Berlin, March (CET → CEST on 2027-03-28) and October (back on 2027-10-31)', () => {
    const march = firstSlotPerDay('Europe/Berlin', '2027-03-26T00:00:00Z', '2027-03-30T00:00:00Z');
    expect(march.get('2027-03-26')).toBe('2027-03-26T08:00:00Z');
    expect(march.get('2027-03-29')).toBe('2027-03-29T07:00:00Z');
    const october = firstSlotPerDay('Europe/Berlin', '2027-10-29T00:00:00Z', '2027-11-02T00:00:00Z');
    expect(october.get('2027-10-29')).toBe('2027-10-29T07:00:00Z');
    expect(october.get('2027-11-01')).toBe('2027-11-01T08:00:00Z');
  });

  it('a rule across the change night counts elapsed time: the skipped hour has no slots, the repeated one is not doubled', () => {
    const night = weekdayAvailability('America/New_York', { breaks: [], weeklyHours: [{ days: ['sun'], start: '01:00:00', end: '04:00:00' }] });
    const spring = generateSlotTimes(night, utc('2027-03-14T00:00:00Z'), utc('2027-03-15T00:00:00Z'));
    expect(spring).toHaveLength(8); // 01:00 EST → 04:00 EDT is two hours
    expect(spring.map((s) => local(s.start, 'America/New_York'))).not.toContain('Sun 2027-03-14 02:00');
    const autumn = generateSlotTimes(night, utc('2027-11-07T00:00:00Z'), utc('2027-11-08T00:00:00Z'));
    expect(autumn).toHaveLength(16); // 01:00 EDT → 04:00 EST is four hours
    expect(new Set(autumn.map((s) => s.start)).size).toBe(16);
  });

  it('a zone without daylight saving (Asia/Kolkata, +05:30) never moves', () => {
    const days = firstSlotPerDay('Asia/Kolkata', '2027-03-01T00:00:00Z', '2027-11-30T00:00:00Z');
    expect(new Set([...days.values()].map((s) => s.slice(11)))).toEqual(new Set(['03:30:00Z']));
  });
});
