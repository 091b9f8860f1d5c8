/**
 * Session settings under which replicated values are turned into text and back. A type's
 * text form depends on some settings (DateStyle, IntervalStyle, TimeZone, bytea_output,
 * extra_float_digits, lc_monetary) and its input on others (array_nulls, xmloption): the
 * capture triggers pin the output ones (SQL: pgferry.capture_value_settings(), kept equal
 * to CAPTURE_VALUE_SETTINGS by a test), and every session of the replicator that reads or
 * writes values as text (the copy on both sides, the apply) pins all of them, whatever the
 * server's, database's or role's defaults are.
 */
export const CAPTURE_VALUE_SETTINGS: Readonly<Record<string, string>> = {
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  bytea_output: 'hex',
  extra_float_digits: '3',
  lc_monetary: 'C',
};

/** The output settings plus those that change how text is read back. */
export const VALUE_SETTINGS: Readonly<Record<string, string>> = {
  ...CAPTURE_VALUE_SETTINGS,
  array_nulls: 'on',
  xmloption: 'content',
};

/** `settings` as a libpq/node-postgres `options` string: `-c name=value ...`. */
export function settingsOptions(settings: Readonly<Record<string, string>>): string {
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value.replace(/[\\ ]/g, (c) => `\\${c}`)}`)
    .join(' ');
}
