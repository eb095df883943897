import dayjs, { type Dayjs } from 'dayjs';
import utc from 'dayjs/plugin/utc.js';
import timezone from 'dayjs/plugin/timezone.js';

dayjs.extend(utc);
dayjs.extend(timezone);

export { dayjs, type Dayjs };

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Start of the given day in the clinic's zone, as an instant. */
export function startOfDay(date: Date | string, tz: string): Dayjs {
  return dayjs(date).tz(tz).startOf('day');
}

/** Monday of the week containing the date, in the clinic's zone. */
export function startOfWeek(date: Date | string, tz: string): Dayjs {
  const d = startOfDay(date, tz);
  const offset = (d.day() + 6) % 7;
  return d.subtract(offset, 'day');
}

export function formatTime(iso: string | undefined, tz: string): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', timeZone: tz }).format(new Date(iso));
}

/** For timelines of a visit, where seconds tell the order. */
export function formatTimeWithSeconds(iso: string | undefined, tz: string): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: tz }).format(new Date(iso));
}

export function formatDate(iso: string | Date | undefined, tz: string): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', timeZone: tz }).format(new Date(iso));
}

export function formatDateTime(iso: string | undefined, tz: string): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: tz,
  }).format(new Date(iso));
}

/** "1 h 05 min", "12 min 30 s", "45 s" */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  if (m > 0) return `${m} min ${String(s).padStart(2, '0')} s`;
  return `${s} s`;
}

export function zoneLabel(tz: string): string {
  const part = new Intl.DateTimeFormat(undefined, { timeZone: tz, timeZoneName: 'short' })
    .formatToParts(new Date())
    .find((p) => p.type === 'timeZoneName');
  const name = tz.replace(/_/g, ' ');
  return part && part.value !== tz ? `${name} (${part.value})` : name;
}
