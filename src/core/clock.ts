/**
 * Current wall-clock time in microseconds since the Unix epoch: Date.now()
 * for the milliseconds, the high-resolution timer for the microseconds within
 * them. Successive calls may repeat or step back by less than 1 ms, so stores
 * still apply max(now, last + 1).
 */
export function nowMicros(): number {
  const subMillisecondMicros = Math.floor(performance.now() * 1000) % 1000;
  return Date.now() * 1000 + subMillisecondMicros;
}
