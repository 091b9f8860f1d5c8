/**
 * The benchmark payload: about 100 bytes of JSON per event, the same on the measured and
 * the baseline side. TypeScript and SQL produce the same shape (and length within a byte or two).
 */

/** A ~100-byte JSON object for event `i`. */
export function payloadObject(i: number): { id: number; customer: string; sku: string; qty: number; amount: number; note: string } {
  return {
    id: i,
    customer: `cust-${(i * 7919) % 100000}`,
    sku: `SKU-${(i * 104729) % 1000000}`,
    qty: (i % 9) + 1,
    amount: ((i * 37) % 100000) / 100,
    note: 'benchmark payload',
  };
}

export function payloadJson(i: number): string {
  return JSON.stringify(payloadObject(i));
}

/** SQL expression (text) for the payload of integer expression `g`, same shape as payloadJson. */
export function payloadSql(g: string): string {
  return `format('{"id":%s,"customer":"cust-%s","sku":"SKU-%s","qty":%s,"amount":%s,"note":"benchmark payload"}',
    ${g}, (${g}::bigint * 7919) % 100000, (${g}::bigint * 104729) % 1000000, (${g} % 9) + 1,
    round(((${g}::bigint * 37) % 100000) / 100.0, 2))`;
}

export const EVENT_TYPE = 'order.created';
